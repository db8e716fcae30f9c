package devcluster

import "strings"

// errList is several errors reported as one line, as every error of a
// command is; errors.Is and errors.As see each of them.
type errList []error

func (l errList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errList) Unwrap() []error { return l }

// joinErrors drops the nil errors and returns nil, the one left, or an
// errList of them.
func joinErrors(errs ...error) error {
	var l errList
	for _, err := range errs {
		if err != nil {
			l = append(l, err)
		}
	}
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}
