/**
 * The layout of the state folder (git-ignored):
 *
 *   <stateDir>/kafka.json  redis.json     pid files: pid, ports, markers, cluster id
 *   <stateDir>/kafka.log   redis.log      each service's stdout and stderr, this run only
 *   <stateDir>/kafka/server.properties, log4j.properties, data/   (data survives `down`)
 *   <stateDir>/redis/redis.conf                                    (Redis keeps no data)
 *   <stateDir>/.lock                       held by one `up` or `down` at a time
 */
import { join } from "node:path";

export type ServiceName = "kafka" | "redis";
export const SERVICES: readonly ServiceName[] = ["kafka", "redis"];

export interface ServicePaths {
  /** The pid file. */
  record: string;
  log: string;
  /** Config files and data. */
  dir: string;
}

export function servicePaths(stateDir: string, service: ServiceName): ServicePaths {
  return {
    record: join(stateDir, `${service}.json`),
    log: join(stateDir, `${service}.log`),
    dir: join(stateDir, service),
  };
}

export function lockPath(stateDir: string): string {
  return join(stateDir, ".lock");
}
