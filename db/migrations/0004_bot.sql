-- 0004: the Telegram bot (issue #5).
-- Reason: a customer who blocked the bot must be noted and skipped. Telegram answers every message
-- to them with 403 "bot was blocked by the user"; remembering the chat lets the notification jobs
-- skip it without another API call (Telegram counts failed sends against the bot's limits), lets
-- the owner see who is unreachable, and is cleared when the customer writes /start again. It is a
-- table of its own because the owner's `users` table is not ours to change, and admins' and
-- customers' chats are treated alike.

CREATE TABLE bot_blocked_chats (
    chat_id BIGINT PRIMARY KEY, -- the Telegram chat (for a private chat, the user's Telegram id)
    blocked_at TIMESTAMP NOT NULL DEFAULT NOW(),
    reason TEXT -- Telegram's description, e.g. "Forbidden: bot was blocked by the user"
);
