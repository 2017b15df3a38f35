import { cf, plans } from './lib/cloud-activities';
import type { CloudAdminOp, CloudAdminResult } from './contracts/cloud';

/**
 * `cloud-admin:<op>:<request>`: one admin Cloudflare read or delete, or the provisioner inventory view (api.md §10,
 * §12). The API reaches outside systems only through workflows; these are short and return the view.
 * A tunnel delete clears the tunnel fields of every agent on it whatever the delete answered (v1).
 */
export async function cloudAdmin(input: CloudAdminOp): Promise<CloudAdminResult> {
  switch (input.op) {
    case 'cloudflare-status':
      return { ok: true, ...(await plans.cloudflareStatus({})) };
    case 'cloudflare-tunnels':
      return plans.cloudflareTunnelsView({});
    case 'cloudflare-dns':
      return plans.cloudflareDnsView({});
    case 'external-resources':
      return { ok: true, ...(await plans.externalResourcesView({})) };
    case 'delete-tunnel': {
      const pre = await plans.cloudflareTunnelDeletable({ tunnelId: input.id });
      if (!pre.ok) return pre;
      let deleted = false;
      try {
        deleted = (await cf.deleteTunnel({ tunnelId: input.id })).deleted;
      } finally {
        await plans.clearAgentTunnel({ tunnelId: input.id });
      }
      return { ok: true, deleted, tunnel_id: input.id };
    }
    case 'delete-dns': {
      if (!(await plans.cloudflareStatus({})).configured) {
        return { ok: false, status: 503, detail: 'Cloudflare not configured' };
      }
      return { ok: true, deleted: (await cf.deleteDnsRecord({ recordId: input.id })).deleted, record_id: input.id };
    }
  }
}
