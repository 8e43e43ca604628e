// Profiles: anyone may read a local user's display name and avatar; only the user may change them.
// Users of other servers are not looked up over federation: they are 404 here.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { forbidden, notFound } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, requiredString } from "../json.js";
import {
  checkProfileValue,
  getProfile,
  setProfileField,
  type Profile,
  type ProfileField,
} from "../services/profile.js";

type Params = { Params: { userId: string } };

async function profileOf(ctx: ServerContext, userId: string): Promise<Profile> {
  const profile = await getProfile(ctx.db, userId);
  if (profile === undefined) throw notFound("No such user");
  return profile;
}

function fieldRoutes(api: FastifyInstance, ctx: ServerContext, field: ProfileField): void {
  api.get<Params>(`/profile/:userId/${field}`, async (request) => {
    const value = (await profileOf(ctx, request.params.userId))[field];
    if (value === undefined) throw notFound(`No ${field} is set`);
    return { [field]: value };
  });

  api.put<Params>(`/profile/:userId/${field}`, async (request) => {
    const session = await requireSession(ctx, request);
    if (request.params.userId !== session.userId) throw forbidden("You may change only your own profile");
    const value = requiredString(bodyObject(request.body), field);
    checkProfileValue(field, value);
    await setProfileField(ctx, session.userId, field, value);
    return {};
  });
}

export function profileRoutes(api: FastifyInstance, ctx: ServerContext): void {
  api.get<Params>("/profile/:userId", async (request) => profileOf(ctx, request.params.userId));
  fieldRoutes(api, ctx, "displayname");
  fieldRoutes(api, ctx, "avatar_url");
}
