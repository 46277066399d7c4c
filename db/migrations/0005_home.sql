-- 0005_home: what a backup holds, so the log can say which backup is a
-- unit's ORIGINAL VENDOR firmware.  The backup step classifies the dump it
-- saved (flashline.image.identify / flashline.tuya.extract) and records the
-- result with the artifact:
--   content  "openbeken 1.18.300", "tuya", "vendor" (an application that is
--            not OpenBeken), "blank" (erased), "unknown"
--   vendor   1: the dump holds the vendor's firmware (not OpenBeken, not blank)
-- A unit's original vendor firmware is its FIRST vendor backup (the lowest
-- artifact id): a later run (`run --again`) backs up OpenBeken, and ids only
-- grow, so the mark never moves.  NULL: an artifact that is not a backup, or
-- a backup from before this migration.  The append-only triggers of 0003
-- freeze both with the artifact.

ALTER TABLE artifacts ADD COLUMN content TEXT CHECK (content IS NULL OR length(content) > 0);
ALTER TABLE artifacts ADD COLUMN vendor INTEGER CHECK (vendor IS NULL OR vendor IN (0, 1));
