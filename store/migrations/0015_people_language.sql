-- The language a person reads the console in (assocflow/i18n.py LANGUAGES), as they chose it
-- with the console's switcher; NULL until they choose: their browser's Accept-Language decides.
ALTER TABLE people ADD COLUMN language text NULL CHECK (language IN ('en', 'zh-Hans'));
