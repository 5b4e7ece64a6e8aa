-- pulse warehouse, version 10: the search term of a search referrer (issue 14).
--
-- dim_referrer gains referrer_search_term: the value of the parameter that Snowplow's referer-parser database
-- names for the engine (`q`, `text`, `p`, ...), at most 256 characters, after the privacy step (it is free
-- text a person typed). It is a function of referrer_url, so the row key is unchanged; rows loaded before
-- this version keep NULL. The reader already sees referrer_url (which carries the term), so the table grant
-- covers the new column too.
ALTER TABLE dim_referrer ADD COLUMN IF NOT EXISTS referrer_search_term text
  CHECK (referrer_search_term IS NULL OR length(referrer_search_term) <= 256);
