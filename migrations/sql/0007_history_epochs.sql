-- The history's indexes by path and by caller, led by the row's epoch.
--
-- Indexed by target alone, each new row lands beside that path's older
-- rows, so a commit of a thousand reads of a thousand paths rewrote
-- about a thousand index pages, each once in the write-ahead log and
-- again in the checkpoint: once the index outgrew that, every audited
-- read cost two 4 KiB page writes, more the longer the history.
--
-- Led by the epoch, seq >> 16, the rows of the same 65,536 events share
-- one run of each index, so a commit touches at most that run's pages
-- however long the history grows. A search by path or caller reads
-- epoch by epoch (projections.historyEpochBits), one seek per epoch.
-- Indexes hold nothing an event did not: no rebuild from the log.
DROP INDEX access_history_target;
DROP INDEX access_history_actor;
CREATE INDEX access_history_target_epoch ON access_history (seq >> 16, target);
CREATE INDEX access_history_actor_epoch  ON access_history (seq >> 16, actor);
