// The agent's command line, parsed by hand (no commander in the guest bundle).

export interface AgentArgs {
  port?: string;
  portIn?: string;
  portOut?: string;
  vsock: boolean;
  /** Testing: socat's listen address for the vsock side (e.g. UNIX-LISTEN:/tmp/x.sock), served next to the port. */
  vsockListen?: string;
  busSocket: string | undefined;
  ptyDir: string;
  /** lodge-spawn (used when the file exists); undefined: Node's spawn. */
  spawner: string | undefined;
  /** lodge-port (used when the file exists); undefined: the port is read by a Node worker thread. */
  relay: string | undefined;
  version: boolean;
  help: boolean;
}

export const AGENT_USAGE = `Usage: lodge-agent [options]
The Lodge guest agent: serves the host's requests on the virtio-serial port and runs the guest message bus.

  --port PATH         the port device (default /dev/virtio-ports/org.lodge.agent.0, else found in
                      /sys/class/virtio-ports); a unix socket is connected to instead (host-side tests)
  --vsock             listen on AF_VSOCK port 7070 through socat only (also used when no port exists);
                      with a port and a virtio vsock device, both are served and the host picks
  --vsock-listen ADDR testing: serve this socat listen address as the vsock side, next to the port
  --port-in PATH      testing: read from this FIFO instead of a port (with --port-out)
  --port-out PATH     testing: write to this FIFO
  --bus-socket PATH   the message bus socket (default /run/lodge/bus.sock)
  --no-bus            do not run the message bus socket
  --pty-dir PATH      where terminal sessions record their pid (default /run/lodge/pty)
  --spawner PATH      the fork server exec starts programs through (default /usr/lib/lodge/lodge-spawn;
                      Node's spawn when the file is missing)
  --no-spawner        start programs with Node's spawn
  --relay PATH        the C relay the port is read and written through (default /usr/lib/lodge/lodge-port;
                      a Node reader thread when the file is missing)
  --no-relay          read and write the port from Node
  --version           print the version and exit
  --help              this text
`;

export function parseAgentArgs(argv: string[]): AgentArgs {
  const args: AgentArgs = { vsock: false, busSocket: '/run/lodge/bus.sock', ptyDir: '/run/lodge/pty', spawner: '/usr/lib/lodge/lodge-spawn', relay: '/usr/lib/lodge/lodge-port', version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v === '') throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--port': args.port = value(); break;
      case '--port-in': args.portIn = value(); break;
      case '--port-out': args.portOut = value(); break;
      case '--vsock': args.vsock = true; break;
      case '--vsock-listen': args.vsockListen = value(); break;
      case '--bus-socket': args.busSocket = value(); break;
      case '--no-bus': args.busSocket = undefined; break;
      case '--pty-dir': args.ptyDir = value(); break;
      case '--spawner': args.spawner = value(); break;
      case '--no-spawner': args.spawner = undefined; break;
      case '--relay': args.relay = value(); break;
      case '--no-relay': args.relay = undefined; break;
      case '--version': case '-V': args.version = true; break;
      case '--help': case '-h': args.help = true; break;
      default: throw new Error(`unknown option ${arg}`);
    }
  }
  if ((args.portIn === undefined) !== (args.portOut === undefined)) throw new Error('--port-in and --port-out go together');
  return args;
}
