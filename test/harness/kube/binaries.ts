import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBinary } from '../proc.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The Kubernetes release the harness runs; scripts/build-kube.sh reads the same file. */
export const kubeVersion: string = (process.env.KUBE_VERSION ?? readFileSync(new URL('./VERSION', import.meta.url), 'utf8')).trim();

export interface KubeBinaries {
  apiserver: string;
  controllerManager: string;
  etcd: string;
  kubectl: string;
  /** util-linux setpriv: gives each peer a parent-death signal so a killed test process leaves nothing behind. */
  setpriv: string;
}

/** Finds every binary the harness starts; throws (never skips) with how to get a missing one. */
export function kubeBinaries(): KubeBinaries {
  const dir = process.env.GANGPLANK_KUBE_BIN_DIR ?? join(repoRoot, '.cache', 'kube', kubeVersion);
  const build = `build it with \`bash scripts/build-kube.sh ${kubeVersion}\``;
  return {
    apiserver: requireBinary(join(dir, 'kube-apiserver'), build),
    controllerManager: requireBinary(join(dir, 'kube-controller-manager'), build),
    etcd: requireBinary('/usr/bin/etcd', 'apt-get install -y etcd-server'),
    kubectl: requireBinary('/usr/bin/kubectl', 'install kubectl'),
    setpriv: requireBinary('/usr/bin/setpriv', 'apt-get install -y util-linux'),
  };
}
