-- pulse warehouse, version 9: why a user agent is a bot (issue 14).
--
-- dim_device_type gains bot_reason, `source:name` of the rule that matched ("crawler-user-agents:Googlebot",
-- "matomo:Semrush", "ua-parser:Spider", "pulse:undici"; at most 96 characters). A bot's device-type row is
-- now keyed by (device_type, bot_reason), so `device_type = 'bot'` still selects every bot and the reason
-- splits them; people's rows keep their key and a NULL reason. Rows loaded before this version keep a NULL
-- reason (the rule that flagged them was not recorded). The reader's table grant covers the new column.
ALTER TABLE dim_device_type ADD COLUMN IF NOT EXISTS bot_reason text
  CHECK (bot_reason IS NULL OR length(bot_reason) <= 96);
