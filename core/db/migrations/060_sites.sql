-- Sites of a chain (issue 19): clinics or studios. Clients belong to one site; staff accounts to
-- any number (core/access/sites.py). Owners see every site, therapists and viewers their own.
-- A site's code is its key (URLs, CSV and the CLI keep it), its name is what people read.
-- Every practice starts with one site, "main", and every client already there is put in it, as is
-- every therapist and viewer account, so nobody loses sight of a client they saw before.
CREATE TABLE sites (
    code VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO sites (code, name, created_at) VALUES ('main', 'Main site', current_timestamp AT TIME ZONE 'UTC');

-- site: the code of the client's site (core/access/sites.py keeps it a known one). A client
-- written without one (already there, or created by an import) is in the default site.
ALTER TABLE clients ADD COLUMN site VARCHAR DEFAULT 'main';

-- The sites a staff account works at. Owners see every site whatever is listed here.
CREATE TABLE staff_sites (
    user_id BIGINT NOT NULL,
    site VARCHAR NOT NULL,
    PRIMARY KEY (user_id, site)
);
INSERT INTO staff_sites (user_id, site) SELECT id, 'main' FROM users WHERE role <> 'owner';

-- A share link made for some sites shows only their clients: their codes, comma-separated
-- (NULL: every site the link's scope covers).
ALTER TABLE share_links ADD COLUMN sites VARCHAR;
