-- 0004_run_link: how each run reached its chip.  A unit can be reached
-- through different drivers (the Beken UART loader, a CH341A SPI programmer
-- in Beken SPI mode); the audit log must say which one and through which
-- programmer, so that a recovery over SPI can be told from a UART flash.
-- Written by the connect step (fl_auditdb_run_link) while the run is RUNNING;
-- the append-only triggers of 0003 freeze them with the run.  NULL: a run
-- from before this migration, or one that never connected.

ALTER TABLE runs ADD COLUMN driver TEXT;      -- "beken-uart", "ch341a-spi"
ALTER TABLE runs ADD COLUMN programmer TEXT;  -- the identity's programmer: port URL, "ch341a bus 1 port 4", "emulator …"
