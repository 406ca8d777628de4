-- The day a pregnant client's care provider cleared her to exercise (issue 16; ACOG CO 804:
-- exercise in pregnancy after a clinical evaluation). A clearance counts for the pregnancy it
-- falls in: the safety rules read it only when it is on or after that pregnancy began.
ALTER TABLE clients ADD COLUMN care_provider_cleared_on DATE;
