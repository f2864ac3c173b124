import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Ordered schema migrations; user_version records how many have run. */
const MIGRATIONS = [
  `CREATE TABLE vms (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     state TEXT NOT NULL,
     state_reason TEXT,
     pid INTEGER,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time TEXT NOT NULL,
     type TEXT NOT NULL,
     vm TEXT,
     body TEXT NOT NULL
   );
   CREATE INDEX events_vm ON events (vm, id);`,
  // Metrics: one row per VM per sampling round, the sample as JSON; time in ms for cheap range scans and pruning.
  `CREATE TABLE samples (
     vm TEXT NOT NULL,
     time INTEGER NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX samples_vm_time ON samples (vm, time);
   CREATE INDEX samples_time ON samples (time);`,
  // The guest's vsock CID, kept and cleared with the pid (runtime state of a running VM).
  `ALTER TABLE vms ADD COLUMN vsock_cid INTEGER;`,
];

export function openDatabase(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i] ?? '');
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
  return db;
}
