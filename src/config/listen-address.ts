// Owns the syntax of a listen address (APPROVAL_CDC_METRICS_ADDRESS): `host:port`, `:port` (on
// 127.0.0.1), a bare port, or `[v6-address]:port`. Pure. Invariant: what it accepts, a server can
// listen on (the port is a whole number 1-65535), so a bad address fails at config time, not at bind.

export interface ListenAddress {
  host: string;
  port: number;
}

export const LISTEN_ADDRESS_ACCEPTS = 'host:port (e.g. 127.0.0.1:9187, [::1]:9187, :9187) or "off"';

/** The host and port of an address, or null when it is not one. */
export function parseListenAddress(text: string): ListenAddress | null {
  const t = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.%a-zA-Z0-9]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1] as string;
    portText = v6[2] as string;
  } else if (/^\d+$/.test(t)) {
    host = '127.0.0.1';
    portText = t;
  } else {
    const i = t.lastIndexOf(':');
    if (i < 0) return null;
    host = t.slice(0, i) || '127.0.0.1';
    portText = t.slice(i + 1);
    // An unbracketed v6 address is ambiguous (is the last group the port?): brackets are required.
    if (host.includes(':') || !/^[A-Za-z0-9._-]+$/.test(host)) return null;
  }
  if (!/^\d+$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return null;
  return { host, port };
}

/** The address as a URL authority (v6 in brackets), for logs and links. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
