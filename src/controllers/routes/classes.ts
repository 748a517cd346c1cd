/** Which Ingresses gangplank serves: IngressClass semantics of the Kubernetes docs. Pure. */
import { DEFAULT_CLASS_ANNOTATION, INGRESS_CONTROLLER, LEGACY_CLASS_ANNOTATION, type Ingress, type IngressClass } from '../../api/types.js';

export interface ClassConfig {
  /** `--ingress-class`: a class name gangplank answers to even without an IngressClass object. */
  ingressClass: string;
}

export interface ClassView {
  /** Names of IngressClasses that are ours. */
  ours: Set<string>;
  /** True when one of our IngressClasses is marked as the cluster default. */
  defaultIsOurs: boolean;
}

export function classView(classes: readonly IngressClass[], cfg: ClassConfig): ClassView {
  const ours = new Set<string>([cfg.ingressClass]);
  let defaultIsOurs = false;
  for (const c of classes) {
    const mine = c.spec.controller === INGRESS_CONTROLLER || (c.metadata.name === cfg.ingressClass && !c.spec.controller);
    if (!mine) {
      // An IngressClass of that name that belongs to another controller takes the name away from us.
      if (c.metadata.name === cfg.ingressClass) ours.delete(c.metadata.name);
      continue;
    }
    ours.add(c.metadata.name);
    if (c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true') defaultIsOurs = true;
  }
  return { ours, defaultIsOurs };
}

/** Whether an Ingress is served by gangplank, and why (for diagnostics). */
export function ingressIsOurs(ing: Ingress, view: ClassView): boolean {
  const legacy = ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (legacy !== undefined) return view.ours.has(legacy);
  const name = ing.spec.ingressClassName;
  if (name !== undefined) return view.ours.has(name);
  return view.defaultIsOurs;
}
