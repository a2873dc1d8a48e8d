/**
 * The `VIP*` labels of Marathon app definitions, as `hoplite vip from-app` reads them.
 *
 * Where labels sit on a port (and where the port's protocol comes from):
 *   - `portDefinitions[i].labels`, `portDefinitions[i].protocol` (host networking);
 *   - `container.portMappings[i].labels`, `.protocol` (Marathon 1.5+, bridge and container networks);
 *   - `container.docker.portMappings[i].labels`, `.protocol` (apps written for Marathon before 1.5);
 *   - pods: `containers[j].endpoints[i].labels`, `.protocol` (a list, e.g. ["tcp", "udp"]).
 *
 * The document may be one app, Marathon's `{ "app": {...} }` (GET /v2/apps/<id>), `{ "apps": [...] }`
 * (GET /v2/apps), a group (`apps`, `pods` and nested `groups`), or a JSON array of those.
 * The app id is not the VIP's name: the label's value is.
 */
import { isVipLabelKey, isVipError, parseVipLabel, type VipLabel } from '@hoplite/vip';

export interface AppVipLabel {
  /** The app's (or pod's) id, `(no id)` when it has none. */
  readonly app: string;
  /** Where the label sits, e.g. `portDefinitions[0]`, `container.portMappings[1]`. */
  readonly source: string;
  readonly key: string;
  readonly value: string;
  /** The port's protocol as Marathon writes it: `tcp`, `udp`, `udp,tcp`. */
  readonly protocol: string;
  readonly label: VipLabel;
}

export interface AppLabels {
  /** Apps and pods found in the document. */
  readonly apps: number;
  readonly labels: readonly AppVipLabel[];
  /** Everything wrong (shape, malformed labels), each naming where. Empty when all is well. */
  readonly problems: readonly string[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const APP_KEYS = ['id', 'portDefinitions', 'container', 'containers', 'cmd', 'args', 'instances', 'ports'];

const MAX_DEPTH = 32;

/** Collect every VIP label of a Marathon document; never throws on bad input (see `problems`). */
export function appVipLabels(doc: unknown): AppLabels {
  const labels: AppVipLabel[] = [];
  const problems: string[] = [];
  let apps = 0;

  const visitApp = (app: Obj, where: string): void => {
    apps++;
    const id = typeof app['id'] === 'string' && app['id'] !== '' ? app['id'] : '(no id)';
    const at = (source: string): string => `${id === '(no id)' ? where || 'app' : id} ${source}`;
    const ports = (list: unknown, source: string): void => {
      if (list === undefined || list === null) return;
      if (!Array.isArray(list)) {
        problems.push(`${at(source)}: not a list`);
        return;
      }
      list.forEach((port, i) => visitPort(port, `${source}[${i}]`));
    };
    const visitPort = (port: unknown, source: string): void => {
      if (!isObj(port)) {
        problems.push(`${at(source)}: not an object`);
        return;
      }
      const raw = port['labels'];
      if (raw === undefined || raw === null) return;
      if (!isObj(raw)) {
        problems.push(`${at(`${source}.labels`)}: not an object of string labels`);
        return;
      }
      let protocol: string;
      const p = port['protocol'];
      if (p === undefined || p === null) protocol = 'tcp';
      else if (typeof p === 'string') protocol = p;
      else if (Array.isArray(p) && p.every((x) => typeof x === 'string')) protocol = p.join(',');
      else {
        problems.push(`${at(`${source}.protocol`)}: ${JSON.stringify(p)} is not tcp, udp or udp,tcp`);
        return;
      }
      for (const [key, value] of Object.entries(raw)) {
        if (!isVipLabelKey(key)) continue;
        if (typeof value !== 'string') {
          problems.push(`${at(`${source}.labels.${key}`)}: the value ${JSON.stringify(value)} is not a string such as "/myapp:5555"`);
          continue;
        }
        try {
          const label = parseVipLabel(value, { key, protocol });
          labels.push({ app: id, source, key, value, protocol, label });
        } catch (err) {
          if (!isVipError(err)) throw err;
          problems.push(`${at(`${source}.labels.${key}`)}: ${err.message} [${err.code}]`);
        }
      }
    };
    ports(app['portDefinitions'], 'portDefinitions');
    const container = app['container'];
    if (container !== undefined && container !== null) {
      if (!isObj(container)) problems.push(`${at('container')}: not an object`);
      else {
        ports(container['portMappings'], 'container.portMappings');
        const docker = container['docker'];
        if (isObj(docker)) ports(docker['portMappings'], 'container.docker.portMappings');
      }
    }
    const containers = app['containers'];
    if (containers !== undefined && containers !== null) {
      if (!Array.isArray(containers)) problems.push(`${at('containers')}: not a list`);
      else
        containers.forEach((c, j) => {
          if (!isObj(c)) problems.push(`${at(`containers[${j}]`)}: not an object`);
          else ports(c['endpoints'], `containers[${j}].endpoints`);
        });
    }
  };

  const visit = (node: unknown, where: string, depth: number): void => {
    if (depth > MAX_DEPTH) {
      problems.push(`${where}: nested deeper than ${MAX_DEPTH} levels`);
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((n, i) => visit(n, `${where}[${i}]`, depth + 1));
      return;
    }
    if (!isObj(node)) {
      problems.push(`${where || 'the document'}: ${JSON.stringify(node)?.slice(0, 40)} is not an app definition (an object with portDefinitions or container.portMappings)`);
      return;
    }
    let grouped = false;
    if (isObj(node['app'])) {
      visit(node['app'], join(where, 'app'), depth + 1);
      grouped = true;
    }
    if (isObj(node['pod'])) {
      visit(node['pod'], join(where, 'pod'), depth + 1);
      grouped = true;
    }
    for (const k of ['apps', 'pods', 'groups']) {
      const list = node[k];
      if (list === undefined) continue;
      grouped = true;
      if (!Array.isArray(list)) problems.push(`${join(where, k)}: not a list`);
      else list.forEach((n, i) => visit(n, `${join(where, k)}[${i}]`, depth + 1));
    }
    if (grouped) return;
    if (!APP_KEYS.some((k) => k in node)) {
      problems.push(`${where || 'the document'}: not an app definition (no id, portDefinitions, container or containers), nor {app}, {apps: [...]} or a group`);
      return;
    }
    visitApp(node, where);
  };

  visit(doc, '', 0);
  return { apps, labels, problems };
}

function join(where: string, key: string): string {
  return where === '' ? key : `${where}.${key}`;
}
