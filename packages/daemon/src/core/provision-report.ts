import { LodgeError, type VmSpec } from '@lodge/api';
import { PROVISION_LOG_FILE, scriptNameOf, type ProvisionDone, type ProvisionRecord, type ProvisionStep } from '@lodge/api/guest';

/** How many of the output tail's last lines the error message itself carries (details have the whole tail). */
const MESSAGE_OUTPUT_LINES = 20;
const MESSAGE_OUTPUT_CHARS = 4000;

const DOING: Record<Exclude<ProvisionStep, 'script'>, string> = {
  seed: 'reading the seed',
  hostname: 'setting the hostname',
  users: 'adding users',
  files: 'writing files',
  packages: 'installing packages',
};

/** A guest message as one short line (messages may quote a command's output). */
const firstLine = (text: string, max = 300): string => {
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
};

/** The spec's name of a script record (records name scripts by file, "<NN>-<name>"). */
const specName = (r: Pick<ProvisionRecord, 'name'>): string => scriptNameOf(r.name ?? '?');

/** "script setup (2/3)", "installing packages", "adding users (alice)", "writing files (/etc/motd)". */
export function stepLabel(r: ProvisionRecord, spec: Pick<VmSpec, 'provision'>): string {
  if (r.step !== 'script') return r.name ? `${DOING[r.step]} (${r.name})` : DOING[r.step];
  const name = specName(r);
  const at = spec.provision.findIndex((p) => p.name === name);
  return at < 0 ? `script ${name}` : `script ${name} (${at + 1}/${spec.provision.length})`;
}

/** The start's progress step for a record: "provisioning: installing packages", "…: ok", "…: skipped (why)". */
export function progressStep(r: ProvisionRecord, spec: Pick<VmSpec, 'provision'>): string {
  const label = `provisioning: ${stepLabel(r, spec)}`;
  if (r.status === 'started') return label;
  const why = r.status === 'failed' ? failureReason(r, spec) : r.message;
  return `${label}: ${r.status}${why ? ` (${firstLine(why)})` : ''}`;
}

/** "exited with code 3", "timed out after 5 s", else the guest's message. */
function failureReason(r: ProvisionRecord, spec: Pick<VmSpec, 'provision'>): string {
  if (r.timedOut) {
    const limit = r.step === 'script' ? spec.provision.find((p) => p.name === specName(r))?.timeout : undefined;
    return limit === undefined ? 'timed out' : `timed out after ${limit} s`;
  }
  if (r.exitCode !== undefined) return `exited with code ${r.exitCode}`;
  return r.message === undefined ? 'failed' : firstLine(r.message);
}

/** The last lines of an output tail, each indented, for the end of an error message. */
function outputLines(output: string): string {
  const lines = output.replace(/\s+$/, '').split('\n').slice(-MESSAGE_OUTPUT_LINES);
  let text = lines.join('\n');
  if (text.length > MESSAGE_OUTPUT_CHARS) text = `…${text.slice(-MESSAGE_OUTPUT_CHARS)}`;
  return text.split('\n').map((l) => `  | ${l}`).join('\n');
}

/** provision_failed for a failed record (the first failure stops the guest's provisioner), or a failed done line alone. */
export function provisionFailure(vm: string, spec: Pick<VmSpec, 'provision'>, failed: ProvisionRecord | undefined, done?: ProvisionDone): LodgeError {
  const what = failed ? (failed.step === 'script' ? `script "${specName(failed)}"` : stepLabel(failed, spec)) : 'provisioning';
  const reason = failed ? failureReason(failed, spec) : done?.message ? firstLine(done.message) : 'the guest reported a failure';
  const scripted = failed?.step === 'script' && (failed.timedOut === true || failed.exitCode !== undefined);
  // A script's own exit says it all; other steps' messages name what went wrong (a package, a user).
  const detail = failed && !scripted && failed.message && failed.message !== reason ? `: ${firstLine(failed.message)}` : '';
  let message = `provisioning of VM "${vm}" failed: ${what} ${scripted ? reason : `failed: ${reason}`}${detail}`;
  if (failed?.output) message += `\n  output (last lines):\n${outputLines(failed.output)}`;
  return new LodgeError('provision_failed', message, {
    hint:
      `the VM is still running: look around with lodge shell ${vm}; the full log is in the guest: lodge exec ${vm} -- cat ${PROVISION_LOG_FILE}; ` +
      `fix the cause and run lodge restart ${vm} to provision again`,
    details: {
      step: failed?.step ?? 'done',
      ...(failed?.name === undefined ? {} : { name: failed.step === 'script' ? specName(failed) : failed.name }),
      ...(failed?.exitCode === undefined ? {} : { exitCode: failed.exitCode }),
      ...(failed?.timedOut ? { timedOut: true } : {}),
      ...(failed?.output === undefined ? {} : { output: failed.output }),
      ...(done?.message === undefined ? {} : { guestMessage: done.message }),
      log: PROVISION_LOG_FILE,
    },
  });
}
