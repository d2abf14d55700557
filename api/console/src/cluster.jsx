// The cluster: what this node's /metrics says about its store (etcd) and
// its peers. A single node (no rotor_store_* metrics) says so.
import { metrics } from './api.js';
import { ErrorLine, usePoll } from './util.jsx';

function first(families, name) {
  const values = families[name];
  return values && values.length ? values[0].value : null;
}

export function Cluster() {
  const [families, error] = usePoll(metrics, 5);
  if (!families) return <section><h1>Cluster</h1><ErrorLine error={error} /></section>;
  const reachable = first(families, 'rotor_store_reachable');
  if (reachable === null) {
    return (
      <section><h1>Cluster</h1>
        <p class="single">This rotor runs as a single node (no cluster store is configured).</p></section>
    );
  }
  const rows = [
    ['store reachable', reachable ? 'yes' : 'no'],
    ['revision applied', first(families, 'rotor_store_revision_applied')],
    ['watch lag', `${first(families, 'rotor_store_watch_lag_seconds')} s`],
    ['live nodes', first(families, 'rotor_cluster_live_nodes')],
    ['abstaining nodes', first(families, 'rotor_cluster_abstaining_nodes')],
    ['isolated', first(families, 'rotor_cluster_isolated') ? 'yes' : 'no'],
  ];
  return (
    <section>
      <h1>Cluster</h1>
      <ErrorLine error={error} />
      <table class="cluster"><tbody>
        {rows.map(([label, value]) => <tr><th>{label}</th><td>{value ?? 'n/a'}</td></tr>)}
      </tbody></table>
      <p class="hint">This node's view, from its /metrics. The API has no per-node route yet, so each
        node's region and lease are not shown here.</p>
    </section>
  );
}
