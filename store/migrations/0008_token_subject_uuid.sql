-- A token's subject as a uuid, worked out once when the token is stored instead of on every
-- authenticated request. Tokens made before subject ids were stored canonically may hold an id
-- in another form of UUID ("urn:uuid:…", "{…}", upper case, no hyphens): read as Python's
-- uuid.UUID would. An operator's subject, or an id that is no UUID, has none (it names nobody).
ALTER TABLE api_tokens ADD COLUMN subject_uuid uuid GENERATED ALWAYS AS (
    CASE WHEN subject_kind <> 'operator'
        AND regexp_replace(replace(replace(subject_id, 'urn:', ''), 'uuid:', ''), '[{}-]', '', 'g')
            ~ '^[0-9a-fA-F]{32}$'
    THEN regexp_replace(replace(replace(subject_id, 'urn:', ''), 'uuid:', ''), '[{}-]', '', 'g')::uuid
    END
) STORED;
