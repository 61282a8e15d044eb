// Serving certificate from a directory laid out as cert-manager's Secret volume
// (tls.crt, tls.key; kubelet swaps a `..data` symlink atomically on renewal). The directory is
// watched, and polled as a fallback (fs.watch misses some symlink swaps and network mounts);
// a changed, valid pair is handed to `onChange` (the server calls setSecureContext, so new
// connections get the new certificate with no restart). An invalid pair keeps the old one.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import tls from 'node:tls';

export interface CertPair { cert: Buffer; key: Buffer }
export type LoadResult = { ok: true; pair: CertPair; fingerprint: string; notAfter: string } | { ok: false; message: string };

/** Reads and checks tls.crt/tls.key of `dir`: both present, parseable, and the key matches. */
export function loadCertDir(dir: string): LoadResult {
  let cert: Buffer, key: Buffer;
  try {
    cert = fs.readFileSync(path.join(dir, 'tls.crt'));
    key = fs.readFileSync(path.join(dir, 'tls.key'));
  } catch (e) {
    return { ok: false, message: `cannot read ${dir}/tls.crt and tls.key: ${e instanceof Error ? e.message : String(e)}` };
  }
  try {
    const x509 = new crypto.X509Certificate(cert);
    if (!x509.checkPrivateKey(crypto.createPrivateKey(key))) return { ok: false, message: `${dir}/tls.key does not match ${dir}/tls.crt` };
    tls.createSecureContext({ cert, key });
    return { ok: true, pair: { cert, key }, fingerprint: x509.fingerprint256, notAfter: x509.validTo };
  } catch (e) {
    return { ok: false, message: `invalid certificate or key in ${dir}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

export interface CertWatcher { current(): CertPair | null; reload(): boolean; close(): void }

export interface WatchOptions {
  pollMs?: number;
  onChange(pair: CertPair, fingerprint: string, notAfter: string): void;
  onError(message: string): void;
}

/** Loads the pair now and again whenever the directory changes (watch + poll). */
export function watchCertDir(dir: string, opts: WatchOptions): CertWatcher {
  let pair: CertPair | null = null;
  let lastFingerprint = '';
  let lastError = '';
  const reload = (): boolean => {
    // the poll's common case, nothing changed: compare bytes, skip parsing the pair again
    // (a key check and a TLS context cost milliseconds of the event loop)
    if (pair !== null && lastError === '') {
      try {
        if (fs.readFileSync(path.join(dir, 'tls.crt')).equals(pair.cert) && fs.readFileSync(path.join(dir, 'tls.key')).equals(pair.key)) return true;
      } catch { /* unreadable now: loadCertDir says why */ }
    }
    const r = loadCertDir(dir);
    if (!r.ok) {
      if (r.message !== lastError) { lastError = r.message; opts.onError(r.message); }
      return false;
    }
    lastError = '';
    if (r.fingerprint === lastFingerprint && r.pair.key.equals(pair?.key ?? Buffer.alloc(0))) return true;
    lastFingerprint = r.fingerprint;
    pair = r.pair;
    opts.onChange(r.pair, r.fingerprint, r.notAfter);
    return true;
  };
  reload();
  let debounce: NodeJS.Timeout | undefined;
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(dir, () => {
      clearTimeout(debounce);
      debounce = setTimeout(reload, 50);
    });
    watcher.on('error', () => { /* the poll below still runs */ });
  } catch { /* no inotify: poll only */ }
  const poll = setInterval(reload, opts.pollMs ?? 10_000);
  poll.unref();
  return {
    current: () => pair,
    reload,
    close: () => { clearInterval(poll); clearTimeout(debounce); watcher?.close(); },
  };
}
