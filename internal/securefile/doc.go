// Package securefile writes private files atomically: a reader, or the
// file system after a crash, sees a file's old content or all of its new
// content, never a part; the new file has exactly the mode asked for,
// whatever the file it replaces had; and a symbolic link at the path is
// replaced, never followed.
package securefile
