-- The hand-written part of the update from 0.4.0 to 0.5.0 that runs after
-- the generated functions.

COMMENT ON TABLE privacy.masked_role IS
  'pg_privacy: roles that read registered tables masked (privacy.mask_role)';
SELECT pg_catalog.pg_extension_config_dump('privacy.masked_role', '');
