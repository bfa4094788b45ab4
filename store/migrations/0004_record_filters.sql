-- A partner's records of one customer: an ordered index range, not a scan of the partner's rows.
CREATE INDEX records_by_partner_customer ON association_records (partner_id, customer_id, occurred_at DESC, id DESC);
