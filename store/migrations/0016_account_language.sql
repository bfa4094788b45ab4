-- The language an account's messages are written in (assocflow/i18n.py LANGUAGES): each
-- notification's summary is written in its recipient account's language when it is written, and
-- stays so. English until the account's admin chooses another (PATCH /v1/settings).
ALTER TABLE partners ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'zh-Hans'));
ALTER TABLE customers ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'zh-Hans'));
