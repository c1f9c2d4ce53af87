-- Shicks schema version 1: everything of value lives in these tables, so a
-- mysqldump of the database is a full backup.
-- Migrations are append-only: never edit a released file, add 0002_*.sql instead.
-- Statements are separated by a semicolon at the end of a line.

-- Accounts. Users log in with `name` (compared exactly: a binary collation, so that
-- no two names that merely look alike, like "alice" and "alicé", are confused);
-- passwords are crypt(3) hashes (yescrypt).
CREATE TABLE IF NOT EXISTS users (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name          VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  password_hash VARCHAR(255)    NOT NULL,
  enabled       TINYINT(1)      NOT NULL DEFAULT 1,
  created_at    DATETIME(6)     NOT NULL,
  last_login_at DATETIME(6)     NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Addresses: "local@domain", or "@domain" for a domain's catch-all, stored with
-- ASCII letters lowercased and compared byte for byte (utf8mb4_bin): lookups are
-- case-insensitive for ASCII, and "jurgen" never matches "jürgen" (a *_ci collation
-- would also ignore accents and deliver one's mail to the other).
-- `domain` answers "is this a domain we hold?".
CREATE TABLE IF NOT EXISTS addresses (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  address    VARCHAR(320)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  domain     VARCHAR(255)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_addresses_address (address),
  KEY ix_addresses_domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- An address delivers to one user (a mailbox) or to several (an alias / list).
CREATE TABLE IF NOT EXISTS address_targets (
  address_id BIGINT UNSIGNED NOT NULL,
  user_id    BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (address_id, user_id),
  KEY ix_address_targets_user (user_id),
  CONSTRAINT fk_address_targets_address FOREIGN KEY (address_id) REFERENCES addresses (id) ON DELETE CASCADE,
  CONSTRAINT fk_address_targets_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A message body, stored once however many mailboxes and relay recipients share it.
-- `size` is the octet count as POP3 RETR sends it before dot-stuffing (CRLF line
-- ends), so STAT/LIST never read a blob. The bytes live in message_chunks.
CREATE TABLE IF NOT EXISTS messages (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  size          BIGINT UNSIGNED NOT NULL,
  chunk_count   INT UNSIGNED    NOT NULL,
  envelope_from VARCHAR(320)    NOT NULL DEFAULT '',
  header_from   VARCHAR(512)    NOT NULL DEFAULT '',
  subject       VARCHAR(512)    NOT NULL DEFAULT '',
  spam          TINYINT(1)      NOT NULL DEFAULT 0,
  spam_keyword  VARCHAR(255)    NULL,
  created_at    DATETIME(6)     NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Bounded chunks (at most 1 MiB each) so that no message size depends on
-- max_allowed_packet and RETR streams with bounded memory.
CREATE TABLE IF NOT EXISTS message_chunks (
  message_id BIGINT UNSIGNED NOT NULL,
  seq        INT UNSIGNED    NOT NULL,
  data       MEDIUMBLOB      NOT NULL,
  PRIMARY KEY (message_id, seq),
  CONSTRAINT fk_message_chunks_message FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE
) ENGINE=InnoDB;

-- One row per (user, message): a POP3 maildrop is the user's rows in id order.
-- `uidl` is unique and never changes (RFC 1939 section 7).
CREATE TABLE IF NOT EXISTS mailbox_entries (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id     BIGINT UNSIGNED NOT NULL,
  message_id  BIGINT UNSIGNED NOT NULL,
  size        BIGINT UNSIGNED NOT NULL,
  uidl        VARCHAR(70)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  received_at DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_mailbox_entries_uidl (uidl),
  KEY ix_mailbox_entries_user (user_id, id),
  KEY ix_mailbox_entries_message (message_id),
  CONSTRAINT fk_mailbox_entries_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_mailbox_entries_message FOREIGN KEY (message_id) REFERENCES messages (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- POP3 maildrop locks (RFC 1939 section 8) held in the database so that several
-- shicksd instances on one database stay correct. A lease expires by itself.
CREATE TABLE IF NOT EXISTS mailbox_leases (
  user_id     BIGINT UNSIGNED NOT NULL,
  owner       VARCHAR(128)    NOT NULL,
  acquired_at DATETIME(6)     NOT NULL,
  expires_at  DATETIME(6)     NOT NULL,
  PRIMARY KEY (user_id),
  KEY ix_mailbox_leases_expires (expires_at),
  CONSTRAINT fk_mailbox_leases_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Outbound queue: one row per (message, relayed recipient), created in the same
-- transaction that accepts the message; deleted once delivered or bounced.
-- A runner claims due rows (FOR UPDATE SKIP LOCKED) and marks them with a lease.
CREATE TABLE IF NOT EXISTS relay_queue (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  message_id      BIGINT UNSIGNED NOT NULL,
  sender          VARCHAR(320)    NOT NULL,
  recipient       VARCHAR(320)    NOT NULL,
  attempts        INT UNSIGNED    NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6)     NOT NULL,
  last_attempt_at DATETIME(6)     NULL,
  last_error      VARCHAR(1024)   NULL,
  claimed_by      VARCHAR(128)    NULL,
  claimed_until   DATETIME(6)     NULL,
  created_at      DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  KEY ix_relay_queue_due (next_attempt_at),
  KEY ix_relay_queue_message (message_id),
  CONSTRAINT fk_relay_queue_message FOREIGN KEY (message_id) REFERENCES messages (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Spam keywords with their hit counts.
CREATE TABLE IF NOT EXISTS spam_keywords (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  keyword     VARCHAR(255)    NOT NULL,
  hits        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_hit_at DATETIME(6)     NULL,
  created_at  DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_spam_keywords_keyword (keyword)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Runtime settings an admin changes live (relay, spam action, limits).
CREATE TABLE IF NOT EXISTS settings (
  name       VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  value      TEXT         NOT NULL,
  updated_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Change counters: a daemon caching a table (spam keywords, settings) compares the
-- counter to notice changes made by another daemon on the same database.
CREATE TABLE IF NOT EXISTS change_counters (
  name  VARCHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  value BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (name)
) ENGINE=InnoDB;

INSERT IGNORE INTO change_counters (name, value) VALUES ('settings', 0), ('spam_keywords', 0);
