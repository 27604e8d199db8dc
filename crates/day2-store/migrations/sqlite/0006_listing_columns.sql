-- day2 store, SQLite backend, schema 6: what listings sort and filter on, as columns (not read out of the JSON of every
-- row on every request), with an index in listing order.

ALTER TABLE findings ADD COLUMN severity_rank INTEGER NOT NULL DEFAULT 4;   -- 0 critical, 1 high, … 4 info
ALTER TABLE findings ADD COLUMN file TEXT;                                 -- declaring file
ALTER TABLE findings ADD COLUMN line INTEGER;                              -- declaring line
ALTER TABLE findings ADD COLUMN team TEXT;                                 -- owning team
UPDATE findings SET
    severity_rank = CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
    file = json_extract(data, '$.file'),
    line = json_extract(data, '$.line'),
    team = json_extract(data, '$.owner.team');
CREATE INDEX findings_listing ON findings(state, severity_rank, file, line, id);
