// The names KubeArmor writes in alerts and logs for what the kernel reports as numbers: socket
// domains and types (its system monitor's tables), protocols (IANA's keywords:
// iana-protocols.ts), and the LSM hooks (the event names its BPF-LSM enforcer puts in `Data`,
// `lsm=NAME`).
import { IANA_PROTOCOLS } from './iana-protocols.ts';
import type { SocketArgs } from './kernel/index.ts';

const DOMAINS: Record<number, string> = {
  0: 'AF_UNSPEC', 1: 'AF_UNIX', 2: 'AF_INET', 3: 'AF_AX25', 4: 'AF_IPX', 5: 'AF_APPLETALK', 6: 'AF_NETROM',
  7: 'AF_BRIDGE', 8: 'AF_ATMPVC', 9: 'AF_X25', 10: 'AF_INET6', 11: 'AF_ROSE', 12: 'AF_DECnet', 13: 'AF_NETBEUI',
  14: 'AF_SECURITY', 15: 'AF_KEY', 16: 'AF_NETLINK', 17: 'AF_PACKET', 18: 'AF_ASH', 19: 'AF_ECONET', 20: 'AF_ATMSVC',
  21: 'AF_RDS', 22: 'AF_SNA', 23: 'AF_IRDA', 24: 'AF_PPPOX', 25: 'AF_WANPIPE', 26: 'AF_LLC', 27: 'AF_IB', 28: 'AF_MPLS',
  29: 'AF_CAN', 30: 'AF_TIPC', 31: 'AF_BLUETOOTH', 32: 'AF_IUCV', 33: 'AF_RXRPC', 34: 'AF_ISDN', 35: 'AF_PHONET',
  36: 'AF_IEEE802154', 37: 'AF_CAIF', 38: 'AF_ALG', 39: 'AF_NFC', 40: 'AF_VSOCK', 41: 'AF_KCM', 42: 'AF_QIPCRTR',
  43: 'AF_SMC', 44: 'AF_XDP',
};

const TYPES: Record<number, string> = {
  1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 4: 'SOCK_RDM', 5: 'SOCK_SEQPACKET', 6: 'SOCK_DCCP', 10: 'SOCK_PACKET',
};

/** `domain=AF_INET type=SOCK_RAW protocol=ICMP`: KubeArmor's Resource of a socket(). The type's
 *  SOCK_NONBLOCK / SOCK_CLOEXEC flags are joined with `|` as KubeArmor does. */
export function networkResource(s: SocketArgs): string {
  const t = [TYPES[s.type & 0xf] ?? String(s.type)];
  if (s.type & 0o4000) t.push('SOCK_NONBLOCK');
  if (s.type & 0o2000000) t.push('SOCK_CLOEXEC');
  return `domain=${DOMAINS[s.family] ?? String(s.family)} type=${t.join('|')} protocol=${IANA_PROTOCOLS[s.protocol] ?? String(s.protocol)}`;
}

/** The LSM hook as KubeArmor's BPF-LSM enforcer names its event (Data `lsm=NAME`); hooks
 *  KubeArmor has no event for keep ArmorGate's name, upper-cased. */
export const LSM_NAMES: Record<string, string> = {
  exec: 'SECURITY_BPRM_CHECK', open: 'FILE_OPEN', create: 'FILE_MKNOD', mkdir: 'FILE_MKDIR', rmdir: 'FILE_RMDIR',
  unlink: 'FILE_UNLINK', rename: 'FILE_RENAME', link: 'FILE_LINK', symlink: 'FILE_SYMLINK', truncate: 'FILE_TRUNCATE',
  chmod: 'FILE_CHMOD', chown: 'FILE_CHOWN', socket: 'SOCKET_CREATE', capable: 'CAPABLE', mount: 'SB_MOUNT', mmap: 'MMAP_FILE',
};

export function lsmName(hook: string): string {
  return LSM_NAMES[hook] ?? hook.toUpperCase();
}
