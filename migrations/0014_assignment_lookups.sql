-- An iWmo message names its assignment by ToewijzingNummer, and caselog finds the case by it
-- (iwmo/inbound.py Inbound.case_for: an assignment granted through the JSON API has no
-- iwmo_case_key row; iwmo/declared.py _Cases.find for each line of a declaration). Without
-- these indexes each lookup read the whole table: at 100,000 cases some 115,000 entitlement
-- rows per message, and the folder import of 10,000 messages ran 45 messages/s against 226
-- on an empty store (docs/performance.md, fifth round).
CREATE INDEX IF NOT EXISTS entitlement_assignment ON entitlement (tenant, assignment_number);
-- (a declaration line whose assignment has since been removed is found by the lines before)
CREATE INDEX IF NOT EXISTS iwmo_declared_line_assignment
    ON iwmo_declared_line (tenant, provider, assignment_number);
