/** Every pluggable part (source, provider, entrypoint, controller) has this shape: built from validated config, then started and stopped. */
export interface Component {
  start(): Promise<void>;
  /** Drain, release ports, flush state. Must be safe to call twice. */
  stop(): Promise<void>;
}
