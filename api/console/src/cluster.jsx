// The cluster: every live node from GET /v1/cluster/nodes (region, lease,
// the etcd revision it applied, its watch lag), and this node's store
// metrics from /metrics. A single node says so.
import { api, metrics } from './api.js';
import { ErrorLine, time, usePoll } from './util.jsx';

function first(families, name) {
  const values = families[name];
  return values && values.length ? values[0].value : null;
}

function lag(ms) {
  return ms === null || ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`;
}

function NodesTable({ nodes }) {
  return (
    <table class="nodes">
      <thead><tr><th>node</th><th>region</th><th>lease</th><th>revision applied</th><th>watch lag</th>
        <th>state</th><th>started</th></tr></thead>
      <tbody>
        {nodes.map((node) => (
          <tr class={node.self ? 'self' : ''}>
            <td>{node.name}{node.self ? ' (this node)' : ''}</td>
            <td>{node.region ?? 'n/a'}</td>
            <td>{node.lease ? `${node.lease.id} (TTL ${node.lease.ttl_seconds ?? '?'} s)` : 'n/a'}</td>
            <td>{node.revision_applied ?? 'n/a'}</td>
            <td>{lag(node.watch_lag_ms)}</td>
            <td>{node.abstaining ? 'abstaining' : 'voting'}</td>
            <td>{node.started_ms ? time(node.started_ms) : 'n/a'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function StoreTable({ families }) {
  const rows = [
    ['store reachable', first(families, 'rotor_store_reachable') ? 'yes' : 'no'],
    ['revision applied', first(families, 'rotor_store_revision_applied')],
    ['watch lag', `${first(families, 'rotor_store_watch_lag_seconds')} s`],
    ['live nodes', first(families, 'rotor_cluster_live_nodes')],
    ['abstaining nodes', first(families, 'rotor_cluster_abstaining_nodes')],
    ['isolated', first(families, 'rotor_cluster_isolated') ? 'yes' : 'no'],
  ];
  return (
    <table class="cluster"><tbody>
      {rows.map(([label, value]) => <tr><th>{label}</th><td>{value ?? 'n/a'}</td></tr>)}
    </tbody></table>
  );
}

export function Cluster() {
  const [listing, nodesError] = usePoll(() => api('GET', '/v1/cluster/nodes'), 5);
  const [families, metricsError] = usePoll(metrics, 5);
  if (!listing) return <section><h1>Cluster</h1><ErrorLine error={nodesError} /></section>;
  if (listing.mode === 'single') {
    return (
      <section><h1>Cluster</h1>
        <p class="single">This rotor runs as a single node (no cluster store is configured): {listing.node}.</p>
      </section>
    );
  }
  return (
    <section>
      <h1>Cluster</h1>
      <ErrorLine error={nodesError || metricsError} />
      <h2>Nodes</h2>
      <NodesTable nodes={listing.nodes} />
      <p class="hint">Other nodes' revision and lag are as they published them at their last lease
        keepalive; a node leaves this list when its lease ends.</p>
      <h2>This node's store</h2>
      {families ? <StoreTable families={families} /> : null}
    </section>
  );
}
