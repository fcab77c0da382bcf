-- rows.sql - a sqlite3 workload of ROWS rows (filled in by sed): insert,
-- index, aggregate, update, delete.  tests/programs.sh runs it with
-- 20000 rows, tests/guest_heap.sh with 100000 inside the emulated machine.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ROWS)
INSERT INTO t SELECT i, printf('name-%08d', i * 7919 % 100003), i % 97,
	(i * 31 % 1000) / 7.0 FROM n;
CREATE INDEX t_grp ON t(grp, val);
SELECT grp, count(*), printf('%.3f', sum(val)), min(name), max(name)
	FROM t GROUP BY grp ORDER BY grp LIMIT 20;
SELECT count(DISTINCT name), printf('%.4f', avg(val)) FROM t WHERE val > 50;
UPDATE t SET name = upper(name) || '-' || grp WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)) FROM t;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY val DESC, id LIMIT 50);
