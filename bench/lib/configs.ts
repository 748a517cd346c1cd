/**
 * Configuration writers for the peers: the nginx backend, nginx and HAProxy as reverse proxies,
 * and a self-signed certificate (openssl) for the TLS rows. All paths live in one temp dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The backend's small body (fixed, as with `return 200 "..."`). */
export const SMALL_BODY = 'hello from the gangplank benchmark backend\n';
export const LARGE_BYTES = 64 * 1024;

export interface Cert {
  certFile: string;
  keyFile: string;
  /** cert + key in one file (HAProxy's `crt`). */
  pemFile: string;
  certPem: string;
  keyPem: string;
}

/** A self-signed ECDSA P-256 certificate for `localhost` made with openssl. */
export function makeCert(dir: string, host = 'localhost'): Cert {
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '7',
    '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const certPem = readFileSync(certFile, 'utf8');
  const keyPem = readFileSync(keyFile, 'utf8');
  const pemFile = join(dir, 'tls.pem');
  writeFileSync(pemFile, certPem + keyPem, { mode: 0o600 });
  return { certFile, keyFile, pemFile, certPem, keyPem };
}

/** Settings every nginx here shares: foreground, one worker, no access log, files in `dir`. */
function nginxPreamble(dir: string): string {
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  # nginx closes a keep-alive (and HTTP/2) connection after 1000 requests by default; a
  # benchmark client would then measure reconnects, so that limit is lifted everywhere.
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ssl_protocols TLSv1.2 TLSv1.3;
`;
}

export interface BackendConfig {
  dir: string;
  httpPort: number;
  tlsPort: number;
  cert: Cert;
}

/** The backend: /small answers a fixed body, /large a 64 KiB static file; HTTP and HTTP/2 over TLS. */
export function nginxBackendConf(c: BackendConfig): string {
  mkdirSync(c.dir, { recursive: true, mode: 0o755 });
  const large = join(c.dir, 'large.bin');
  const buf = Buffer.alloc(LARGE_BYTES);
  for (let i = 0; i < buf.length; i++) buf[i] = 97 + (i % 26);
  writeFileSync(large, buf);
  return `${nginxPreamble(c.dir)}
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:${c.httpPort} default_server;
    listen 127.0.0.1:${c.tlsPort} ssl http2 default_server;
    ssl_certificate ${c.cert.certFile};
    ssl_certificate_key ${c.cert.keyFile};
    location = /small { default_type text/plain; return 200 "${SMALL_BODY.replace(/\n/g, '\\n')}"; }
    location = /large { default_type application/octet-stream; alias ${large}; }
    location / { return 404; }
  }
}
`;
}

export interface ProxyConfig {
  dir: string;
  httpPort: number;
  /** HTTPS (HTTP/2 + HTTP/1.1) listener for the TLS host; omitted in the route-scale runs. */
  tls?: { port: number; host: string; cert: Cert };
  /** Host names routed to the backend over plain HTTP. */
  hosts: readonly string[];
  backendPort: number;
}

/** nginx as reverse proxy: one server block per host (like one route per Ingress host), upstream keepalive. */
export function nginxProxyConf(c: ProxyConfig): string {
  const location = `    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      # Large enough that a 64 KiB response stays in memory (no temp file).
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
    }
`;
  const servers = c.hosts.map((h) => `  server {\n    listen 127.0.0.1:${c.httpPort};\n    server_name ${h};\n${location}  }\n`).join('');
  const tls = c.tls
    ? `  server {
    listen 127.0.0.1:${c.tls.port} ssl http2;
    server_name ${c.tls.host};
    ssl_certificate ${c.tls.cert.certFile};
    ssl_certificate_key ${c.tls.cert.keyFile};
${location}  }
`
    : '';
  return `${nginxPreamble(c.dir)}
  server_names_hash_max_size 65536;
  server_names_hash_bucket_size 128;
  upstream backend {
    server 127.0.0.1:${c.backendPort};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${c.httpPort} default_server;
    return 404;
  }
${servers}${tls}}
`;
}

/** HAProxy as reverse proxy: one thread, the host looked up in a map file, `http-reuse always`. */
export function haproxyConf(c: ProxyConfig): string {
  mkdirSync(c.dir, { recursive: true, mode: 0o755 });
  const map = join(c.dir, 'hosts.map');
  const hosts = c.tls ? [...c.hosts, c.tls.host] : [...c.hosts];
  writeFileSync(map, hosts.map((h) => `${h} be_app`).join('\n') + '\n');
  const tlsBind = c.tls ? `  bind 127.0.0.1:${c.tls.port} ssl crt ${c.tls.cert.pemFile} alpn h2,http/1.1\n` : '';
  return `global
  nbthread 1
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  option http-keep-alive
  option forwardfor
  http-reuse always

frontend web
  bind 127.0.0.1:${c.httpPort}
${tlsBind}  use_backend be_app if { req.hdr(host),field(1,:),lower,map_str(${map}) -m found }
  default_backend be_404

backend be_app
  http-reuse always
  server backend 127.0.0.1:${c.backendPort}

backend be_404
  http-request return status 404
`;
}
