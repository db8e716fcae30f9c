package pilot

// WithTerminal lets the external tests play a terminal on standard input,
// to answer a confirmation.
var WithTerminal = withTerminal
