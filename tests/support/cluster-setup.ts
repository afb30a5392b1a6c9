import { testServices } from "./services.ts";

/** The cluster tier runs only against a Redis Cluster and a three-member etcd: says how to get them. */
export default function setup(): void {
  const hint =
    "run it with `npm run test:cluster` (it starts both: scripts/services.sh start --redis-cluster --etcd-cluster)";
  if (!testServices.redisCluster)
    throw new Error(`the cluster tier needs TASKSTREAM_REDIS_CLUSTER=1; ${hint}`);
  if (testServices.etcdEndpoints.length < 3)
    throw new Error(`the cluster tier needs three etcd endpoints in TASKSTREAM_ETCD_ENDPOINTS; ${hint}`);
}
