// Package pilot is spike's command line, `spike`: the operator's tool for
// secrets, policies, the cipher service, the audit log, point-in-time
// restore and break-glass recovery, plus `spike dev`, the whole system in
// one process for a laptop. The grammar is kong's; the commands speak to
// Nexus through package sdk.
//
// # Commands
//
// SPIKE v0.8's commands keep their argument shapes:
//
//	secret put PATH KEY=VALUE...        secret get PATH [KEY] [-v N]
//	secret list [--prefix P]            secret delete PATH [-v 1,2]
//	secret undelete PATH [-v 1,2]       secret metadata get PATH [-v N]
//	policy create --name --spiffeid-pattern --path-pattern --permissions
//	policy apply --file F.yaml | the four flags
//	policy get NAME|--name NAME         policy list [--path-pattern P | --spiffeid-pattern P]
//	policy delete NAME|--name NAME      cipher encrypt [FILE] [-o OUT] [--plaintext B64]
//	cipher decrypt [FILE] [-o OUT] [--version --nonce --ciphertext]
//	operator recover [--recovery-dir D] operator restore [FILE...]
//
// spike's own:
//
//	secret destroy PATH -v 1,2 [--yes]  secret history PATH
//	secret patch PATH KEY=VALUE... [--remove KEY,...] [--cas N]
//	secret rollback PATH --to N [--cas N]
//	secret metadata put PATH [settings] secret metadata delete PATH [--yes]
//
// and audit list|checkpoint|proof|consistency|verify, restore
// list|apply, status, dev, version and completion bash|zsh|fish. One SPIKE spelling changed: the
// cipher's input file is an argument or --file, not -f, since -f is
// --format everywhere.
//
// Secret values given on the command line (KEY=VALUE) are accepted as
// SPIKE accepts them, and end up in shell history; KEY=@FILE reads the
// value from a file, KEY=- from standard input (less one trailing
// newline), and KEY=@@TEXT is the literal "@TEXT".
//
// Human output never lets text from Nexus drive the terminal: control
// characters (newlines, tabs, ESC…) in paths, names, events and
// messages are shown escaped (\n, \x1b). secret get shows a value that
// holds one, or starts with a double quote, as a double-quoted string
// with Go's escapes, one key per line; secret get PATH KEY does so on a
// terminal and writes the value as stored when piped (> file).
//
// Secret paths are names of segments joined by '/': a path that starts
// or ends with '/' or holds "//" is refused (see package api), with the
// path meant suggested.
//
// policy apply --file reads what policy get -f yaml|json prints: the
// read-only fields Nexus sets (createdAt, updatedAt, id) are ignored.
//
// restore apply --time takes an RFC 3339 time, a date (midnight UTC) or a
// duration ago (2h, 3d), never a time in the future.
//
// secret delete, undelete and destroy say which versions they changed
// and which version is current afterwards (deleting the current version
// makes the highest readable one current). secret metadata get shows a
// path whose every version is deleted, each version with its state, so
// that undelete has something to name.
//
// Destructive commands (secret destroy, secret metadata delete, policy
// delete, restore apply, and secret metadata put when --max-versions
// would destroy versions) ask for
// confirmation when standard input is a terminal, and refuse (exit 2)
// without --yes when it is not. audit verify draws a progress bar on
// standard error when that is a terminal, and nothing extra otherwise.
// Commands that do not talk to Nexus (version, completion, dev, audit
// verify) need no SVID.
//
// # Exit status
//
// One rule for every command (`spike --help` states it too): 2 when the
// command line is wrong, and then nothing was done; 1 for everything
// else that fails; 0 on success.
//
// 2, usage: a malformed command line; arguments the SDK refuses before
// sending anything (a path such as "/a/b", a permission such as "reed");
// settings it cannot use (a bad --nexus-url or trust root); a file the
// command line names that is missing, a directory, unreadable, or not
// what the command reads (a KEY=@FILE value, a policy file, a verifier
// key, a saved checkpoint, a recovery file, a cipher envelope), or an
// output file whose directory does not exist; a destructive command
// without --yes and without a terminal to ask on. Every such message
// names the file.
//
// 1, failure: Nexus refused, the secret or policy does not exist, Nexus
// could not be reached, a proof or log does not verify, Nexus sent an
// answer this client cannot read, the command could not get its own
// SVID, or a confirmation was answered with anything but y or yes: then
// the command prints "cancelled: nothing was changed" and exits 1.
//
// SPIKE v0.8 exits 0 when Nexus refuses; spike does not. Errors are one
// line on standard error saying what to do next; they never quote a
// secret value. Data goes to standard output; on a terminal, what a
// command waits for (an SVID, a sealed Nexus) is said on standard error
// as it waits.
//
// # JSON output
//
// --format json (or -f j) makes every command that prints data print one
// JSON document, indented by two spaces; --format yaml prints the same
// document as YAML (keys sorted, strings double-quoted). Times are RFC
// 3339 in UTC with nanoseconds, byte strings standard base64. The
// documents, by command:
//
//	secret put              {"path", "version"}                 version only when Nexus reports it (--cas writes)
//	secret patch            {"path", "version"}                 the version written
//	secret rollback         {"path", "version", "from"}         the version written, and the one whose data it holds
//	secret get PATH         {"path", "version", "createdTime", "data": {"KEY": "VALUE", …}}
//	                        the version read and when it was written (0 and null from a
//	                        SPIKE v0.8 Nexus), the values under "data"
//	secret get PATH KEY     "VALUE"
//	secret list             ["PATH", …]                          sorted; with --limit one page, whose last
//	                                                             path is the --after of the next
//	secret delete|undelete|destroy
//	                        {"path", "versions": [N, …], "currentVersion"}
//	                        the versions changed ([] only when each named was so already), and the
//	                        current version after (0: none is readable; left out when Nexus does not
//	                        say, as SPIKE v0.8 does not)
//	secret metadata get     {"path", "currentVersion", "oldestVersion", "createdTime", "updatedTime",
//	                         "maxVersions", "casRequired", "deleteVersionAfter" (a Go duration, "0s": never),
//	                         "customMetadata": {…}, "versions": [{"version", "createdTime",
//	                         "deletedTime" (null unless deleted), "destroyed"}, …]}
//	                        every version, deleted and destroyed ones included; currentVersion and
//	                        oldestVersion (the oldest readable) are 0 when every version is deleted
//	                        or destroyed
//	secret metadata delete  {"path", "versions": [N, …]}         the versions it destroyed
//	secret metadata put     {"path", and each setting changed: "maxVersions", "casRequired",
//	                         "deleteVersionAfter", "customMetadata"}
//	secret history, audit list
//	                        {"events": [{"seq", "time", "type", "actor", "path", "versions", "action",
//	                         "outcome", "detail", "requestId"}, …], "next"}
//	                        empty event fields are left out; next (only with --limit, when more
//	                        follow) is the --after of the next page
//	policy create|apply     {"name", "spiffeidPattern", "pathPattern", "permissions": […]}
//	policy get              the same, with "createdAt" and "updatedAt"
//	policy list             ["NAME", …]
//	policy delete           {"name"}
//	cipher encrypt          {"version", "nonce", "ciphertext"}   what cipher decrypt reads back
//	cipher decrypt          {"plaintext"}
//	audit checkpoint        {"checkpoint" (the signed note), "size", "rootHash", "verifierKey", "verified"}
//	audit proof             {"seq", "treeSize", "leafHash", "proof": […], "checkpoint", "verified"}
//	audit consistency       {"oldSize", "newSize", "proof": […], "checkpoint", "verified"}
//	audit verify            {"origin", "size", "checkpoints", "latestSize", "latestRootHash", "verified"}
//	audit replay            audit list's document; with --as-of also "asOf": {"time", "seq" (the last
//	                         event at or before it), "secrets": [secret metadata get's document, …]}
//	restore list            {"points": [{"seq", "time", "rootHash"}, …], "next"}
//	restore apply           {"seq" (the event recording the restore), "asOfSeq", "asOfTime", "paths": […]}
//	                        a restore that changed no path is an error (exit 1), with no document
//	operator recover        {"directory", "files": […]}          where the recovery files are
//	operator restore        {"collected", "remaining", "restored"}
//	status                  {"state" ("ready" or "sealed"), "reason" (only when sealed), "node", "leader",
//	                         "bootstrapped", "unsealedAt" (null while sealed), "keepers": [{"url", "reachable",
//	                         "lastSeen", "lastChecked", "error"}, …], "keepersReachable", "shares", "threshold",
//	                         "logEvents", "logBytes", "checkpoint": {"size", "time"} (null before the first)}
//	version                 {"version", "commit", "commitTime", "modified", "go"}
//	                        commit, commitTime and modified only when the build recorded them
//
// verified is true only when a signature or proof was checked against a
// verifier key given with --key. These names are stable: fields may be
// added, none renamed or removed. dev and completion print no document.
//
// That rule was broken once, knowingly, when the documents learnt to say
// which version they concern: secret get PATH was the data alone
// ({"KEY": "VALUE", …}, as SPIKE prints it) and now holds it under
// "data" beside the version and its time, where no key of a secret can
// collide with those names (a script reads .data.KEY now, or asks for one
// value with secret get PATH KEY, whose output is unchanged); and the
// "versions" of delete, undelete and destroy were the versions given and
// are now those changed.
package pilot
