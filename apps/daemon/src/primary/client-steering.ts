/**
 * A client's weight and worker cap, as the daemon grants them at hello: the
 * client asks (`connect({ weight, maxWorkers })`), the operator decides.
 * A weight the operator set for the client's name (--client-weight name=N)
 * wins over the client's own; otherwise the ask is clamped to
 * --max-client-weight, so no app on a shared daemon takes the pool by
 * declaring weight 1000. Clamping, not refusing: an app written for one
 * daemon still runs on another, at the share this one grants, and the
 * welcome says so (`warning`). A cap on workers is the lower of the client's
 * and the operator's (--client-max-workers name=N); the operator's holds for
 * every connection of that name together (an app of many connections under
 * one name took the cap once for each: `nameMaxWorkers`). Names are not
 * authenticated: whoever has the token may take any name, so a per-name
 * setting steers cooperating apps, it does not fence off hostile ones
 * (--max-client-weight does, for every name without a setting).
 */
import type { Hello } from '@corepool/protocol';

/** The operator's settings. */
export interface SteeringPolicy {
  /** Most weight a client may give itself. */
  maxClientWeight: number;
  /** Weights by client name, over the client's own ask and not bounded by maxClientWeight. */
  clientWeights: ReadonlyMap<string, number>;
  /** Caps on workers held at once, by client name. */
  clientMaxWorkers: ReadonlyMap<string, number>;
}

/** What a client is granted. */
export interface Steering {
  weight: number;
  maxWorkers: number | undefined;
  /** The operator's cap for the client's name, held by all of that name's connections together (worker-cap.ts). */
  nameMaxWorkers?: number;
  /** Why the grant differs from the ask, for the welcome and the log. */
  warning?: string;
}

/** The weight and cap granted to a client that sent `hello`. */
export function steer(hello: Pick<Hello, 'name' | 'weight' | 'maxWorkers'>, policy: SteeringPolicy): Steering {
  const name = hello.name ?? '';
  const warnings: string[] = [];
  let weight = hello.weight ?? 1;
  const set = policy.clientWeights.get(name);
  if (set !== undefined) {
    if (hello.weight !== undefined && hello.weight !== set)
      warnings.push(`weight ${hello.weight} asked, ${set} given: the daemon's operator set the weight of ${JSON.stringify(name)}`);
    weight = set;
  } else if (weight > policy.maxClientWeight) {
    warnings.push(`weight ${weight} asked, ${policy.maxClientWeight} given: the daemon's --max-client-weight`);
    weight = policy.maxClientWeight;
  }
  let maxWorkers = hello.maxWorkers;
  const cap = policy.clientMaxWorkers.get(name);
  if (cap !== undefined && (maxWorkers === undefined || maxWorkers > cap)) {
    if (maxWorkers !== undefined)
      warnings.push(`maxWorkers ${maxWorkers} asked, ${cap} given: the daemon's operator capped ${JSON.stringify(name)}`);
    maxWorkers = cap;
  }
  const out: Steering = { weight, maxWorkers };
  if (cap !== undefined) out.nameMaxWorkers = cap;
  if (warnings.length > 0) out.warning = warnings.join('; ');
  return out;
}
