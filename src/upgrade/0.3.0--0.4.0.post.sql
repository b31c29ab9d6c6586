-- The hand-written part of the update from 0.3.0 to 0.4.0 that runs after
-- the generated functions.

-- Every backend forgets the statements it built from the catalog with the
-- 0.3.0 builders (their rows queries return one jsonb, 0.4.0's three
-- columns): an invalidation of the catalog's tables empties the per-backend
-- cache of each session at its next statement.
SELECT privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
SELECT privacy_internal._invalidate('privacy.registered_table'::pg_catalog.regclass);

-- Danish and Nordic column names that look personal.
INSERT INTO privacy.name_pattern (pattern, category, builtin) VALUES
  ('telefon|(^|_)tlf|mobil|puhelin', 'phone', true),
  ('e_?post|s[aä]hk[oö]posti', 'email', true),
  ('(^|_)((for|efter|mellem|fuld|kontakt|etter|f[oö]r|slekt)_?)?(navn|namn|nimi)$|(suku|etu)nimi', 'name', true),
  ('adresse|adress|osoite|(^|_)postnr|post_?nummer|postinumero|(^|_)gade(_|$)|(^|_)vej(_|$)|bynavn|(^|_)postby$|postort', 'postal_address', true),
  ('(^|_)cpr|person_?n(umme)?r|f(ø|oe|o)dsels_?(nummer|nr|dato)|f[oö]delse_?datum|henkil[oö]tunnus|(^|_)hetu$|syntym[aä]', 'national_id', true),
  ('kunde_?n(umme)?r|kund_?n(umme)?r|asiakas_?n(ume)?ro', 'customer_number', true),
  ('konto_?n(umme)?r|tilinumero|(^|_)reg_?nr', 'bank_account', true),
  ('org(anisations|anisasjons)?_?n(umme)?r|y_?tunnus', 'business_id', true),
  ('(^|_)firma|virksomhed|f[oö]retag|yritys', 'company', true)
  ON CONFLICT (pattern) DO NOTHING;
