// First-boot provisioning: the NoCloud seed Lodge writes, and the progress the guest's provisioner reports.
// Zod-free: the guest's provisioner (lodge-guest provision) and the daemon both use it.

/** Volume label of the seed disk (cloud-init's NoCloud looks for it); also the virtio serial of its disk. */
export const CIDATA_LABEL = 'cidata';
/** Files on the seed, as NoCloud names them. */
export const CIDATA_FILES = { metaData: 'meta-data', userData: 'user-data' } as const;
/** First line of user-data; the rest is JSON (valid YAML, so cloud-init reads the same file). */
export const CLOUD_CONFIG_HEADER = '#cloud-config';

/** Where provision scripts are written in the guest (write_files), one file per script: "<NN>-<name>". */
export const PROVISION_SCRIPTS_DIR = '/var/lib/lodge/provision/scripts';
/** cloud-init's folder of scripts run at every boot; Lodge's provisioner runs it too, in name order, after runcmd. */
export const PER_BOOT_SCRIPTS_DIR = '/var/lib/cloud/scripts/per-boot';
/** What the provisioner has done for an instance (markers per step), so "once" holds across boots. */
export const PROVISION_STATE_DIR = '/var/lib/lodge/provision/state';
/** Progress of this boot's provisioning, one JSON record per line (tmpfs: starts empty at each boot). */
export const PROVISION_PROGRESS_FILE = '/run/lodge/provision.jsonl';
/** Every script's full output, appended across boots. */
export const PROVISION_LOG_FILE = '/var/log/lodge-provision.log';
/** The most output a progress record carries (its tail). */
export const PROVISION_OUTPUT_TAIL_BYTES = 8192;
/** Longest progress line the host accepts; longer lines are an error in the guest's report. */
export const PROVISION_RECORD_MAX_BYTES = 32 * 1024;

/** sudo rule of the default user (and of users with sudo: true), as cloud-init writes it. */
export const PASSWORDLESS_SUDO = 'ALL=(ALL) NOPASSWD:ALL';

/** A user as cloud-init's `users` list has it (the subset Lodge writes). */
export interface CloudUser {
  name: string;
  shell: string;
  /** Comma-separated supplementary groups (made if missing). */
  groups?: string;
  sudo?: string;
  lock_passwd: true;
  ssh_authorized_keys: string[];
}

/** cloud-init's write_files entry; content is base64 when encoding is "b64". */
export interface CloudFile {
  path: string;
  content: string;
  encoding?: 'b64';
  /** Octal, e.g. "0644". */
  permissions: string;
  /** "user:group" */
  owner: string;
  /** Written after users and packages (so owners exist); cloud-init 22.1+. */
  defer?: boolean;
}

/**
 * The user-data Lodge writes (a subset of cloud-config). Order of work, as in cloud-init: hostname (every boot),
 * users, write_files (not deferred), package_update + packages, deferred write_files, runcmd (once per instance,
 * each entry once), then per-boot scripts (every boot). Lodge stops at the first failing entry.
 */
export interface LodgeCloudConfig {
  hostname: string;
  /** Also set /etc/hosts' 127.0.1.1 line. */
  manage_etc_hosts: true;
  users: CloudUser[];
  ssh_pwauth: false;
  write_files: CloudFile[];
  package_update?: boolean;
  packages?: string[];
  /** argv lists; an entry naming a file in PROVISION_SCRIPTS_DIR is reported under that script's name. */
  runcmd?: string[][];
}

/** meta-data: instance-id decides what "once" means (it stays the same across a VM's boots). */
export interface CloudMetaData {
  'instance-id': string;
  'local-hostname': string;
}

export type ProvisionStep = 'seed' | 'hostname' | 'users' | 'files' | 'packages' | 'script';
/** started, then ok or failed; skipped comes alone (no seed, or a step done at an earlier boot of the instance). */
export type ProvisionStatus = 'started' | 'ok' | 'skipped' | 'failed';

/** One line of PROVISION_PROGRESS_FILE. */
export interface ProvisionRecord {
  time: string;
  step: ProvisionStep;
  /** The script's name (step "script"), a user's name, a file's path. */
  name?: string;
  status: ProvisionStatus;
  message?: string;
  /** The last PROVISION_OUTPUT_TAIL_BYTES of its output (scripts and packages), on failure. */
  output?: string;
  exitCode?: number;
  /** The script ran past its time limit and was killed. */
  timedOut?: boolean;
}

/** The last line of PROVISION_PROGRESS_FILE for a boot. */
export interface ProvisionDone {
  time: string;
  done: true;
  ok: boolean;
  message?: string;
}

export type ProvisionLine = ProvisionRecord | ProvisionDone;

/** A provision script's file name in PROVISION_SCRIPTS_DIR (and its per-boot wrapper's in PER_BOOT_SCRIPTS_DIR): "<NN>-<name>", NN its 1-based place. */
export const scriptFileName = (index: number, name: string): string => `${String(index + 1).padStart(2, '0')}-${name}`;
/** The spec's script name behind a file's base name (progress records name scripts by file). */
export const scriptNameOf = (fileBase: string): string => fileBase.replace(/^\d{2}-/, '');
