-- Offboarding (contract v1.2): a user's logins are ended together (deactivation, password
-- changes), so they are found by user. Users and booths gain `active` in their documents
-- (read as true when absent): nothing to rewrite.
CREATE INDEX login_tokens_by_user ON login_tokens (user_id, token_hash);
