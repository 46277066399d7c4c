-- 0006_firmware_store: where a flashed image came from.  A recipe may name
-- its firmware from the station's firmware store ("OpenBK7231N@1.18.300",
-- "sha256:…", see `flashline firmware --help`) instead of a path; the flash
-- step then records, with the "firmware" artifact (whose path is the store's
-- file and whose sha256 the image's), the store's identity of the image:
--   store_name     "OpenBK7231N" (the OpenBeken product, or the file's name)
--   store_version  "1.18.300"
--   store_source   the file or release URL the image entered the store from
-- NULL: not from the store (a path), or a run before this migration.  The
-- append-only triggers of 0003 freeze them with the artifact.

ALTER TABLE artifacts ADD COLUMN store_name TEXT CHECK (store_name IS NULL OR length(store_name) > 0);
ALTER TABLE artifacts ADD COLUMN store_version TEXT CHECK (store_version IS NULL OR length(store_version) > 0);
ALTER TABLE artifacts ADD COLUMN store_source TEXT CHECK (store_source IS NULL OR length(store_source) > 0);
