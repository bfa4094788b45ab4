-- When a request's counterpart was reminded (a request's page shows it in its timeline): read
-- by the request, not by scanning every account's notifications.
CREATE INDEX notifications_reminders ON notifications (request_id, created_at)
    WHERE event_type LIKE '%.reminder';
