// Push rules, read-only: GET of the default ruleset and of single rules. Changing rules is not
// offered (PUT/DELETE are 404 M_UNRECOGNIZED), since this server sends no push notifications.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.js";
import { notFound } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { defaultPushRules, isPushRuleKind, type PushRule, type PushRuleset } from "../services/pushRules.js";

type RuleRequest = FastifyRequest<{ Params: { kind: string; ruleId: string } }>;

export function pushRuleRoutes(api: FastifyInstance, ctx: ServerContext): void {
  const ruleset = async (request: FastifyRequest): Promise<PushRuleset> =>
    defaultPushRules((await requireSession(ctx, request)).userId);

  const findRule = async (request: RuleRequest): Promise<PushRule> => {
    const { kind, ruleId } = request.params;
    const rules = await ruleset(request);
    const found = isPushRuleKind(kind) ? rules[kind].find((rule) => rule.rule_id === ruleId) : undefined;
    if (found === undefined) throw notFound("No such push rule");
    return found;
  };

  // matrix-js-sdk asks with the trailing slash; others without.
  for (const path of ["/pushrules/", "/pushrules"]) {
    api.get(path, async (request) => ({ global: await ruleset(request) }));
  }
  api.get("/pushrules/global/", async (request) => ruleset(request));
  api.get("/pushrules/global/:kind/:ruleId", async (request: RuleRequest) => findRule(request));
  api.get("/pushrules/global/:kind/:ruleId/enabled", async (request: RuleRequest) => ({
    enabled: (await findRule(request)).enabled,
  }));
  api.get("/pushrules/global/:kind/:ruleId/actions", async (request: RuleRequest) => ({
    actions: (await findRule(request)).actions,
  }));
}
