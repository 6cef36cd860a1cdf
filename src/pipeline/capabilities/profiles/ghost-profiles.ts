import { AvatarRejectedError, inspectAvatar } from "../../../core/avatars.js";
import type { Logger } from "../../../log.js";
import type { MatrixRooms } from "../../../matrix/rooms.js";
import type { BridgeStore } from "../../../store/store.js";
import type { VcardProfile } from "../../../xmpp/vcard.js";
import type { AvatarUploads } from "./avatar-uploads.js";
import { isPassing } from "../../errors.js";
import { jidLocalpart, matrixLocalpart } from "../../../core/identity.js";

/** Where an XMPP user's profile is asked: their bare JID, or a hidden occupant's JID through its MUC. */
export interface ProfileSource {
  jid: string;
  /** The address asking; a MUC answers for its occupants only to another occupant. */
  from?: string;
}

export interface GhostProfilesDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  uploads: AvatarUploads;
  lookUp: (source: ProfileSource) => Promise<VcardProfile | undefined>;
  log: Logger;
}

/**
 * Ghosts' display names and avatars from XMPP profiles (vCard-temp, XEP-0054/0153; PEP, XEP-0084).
 * A ghost is named and given its avatar the first time it is seen; later, whenever its XMPP user
 * announces another avatar hash. Each distinct image is uploaded once.
 */
export class GhostProfiles {
  /** Per ghost, the refresh in progress: one at a time, since every puppet in a room hears the same presence. */
  private readonly refreshing = new Map<string, Promise<boolean>>();

  constructor(private readonly deps: GhostProfilesDeps) {}

  /**
   * The ghost exists and, unless it has a name already, takes the name (NICKNAME, else FN, else
   * `fallbackName`) and the photo of the XMPP user's vCard, asked once for both.
   */
  async firstSight(ghost: string, jid: string, fallbackName: string): Promise<void> {
    await this.deps.rooms.ensureGhostNamed(ghost, async () => {
      const profile = await this.deps.lookUp({ jid });
      const name = profile?.name ?? fallbackName;
      const avatarHash = profile ? await this.applyPhoto(ghost, profile) : undefined;
      await this.deps.store.setGhostProfile(ghost, { vcardName: name, ...(avatarHash === undefined ? {} : { avatarHash }) });
      return name;
    });
  }

  /**
   * An XMPP user announced an avatar hash (XEP-0153; "" for none) for the ghost. When it differs from
   * the last one taken, the image is fetched, checked and set; with `named`, the vCard's name renames
   * the ghost too, unless something else (a XEP-0172 nick) named it. Resolves true when the avatar
   * changed; never throws, since an avatar is never worth holding up what comes after it.
   */
  noteAvatarHash(source: ProfileSource, hash: string, ghost: string, named = false): Promise<boolean> {
    const previous = this.refreshing.get(ghost) ?? Promise.resolve(false);
    const next = previous.then(() =>
      this.refresh(source, hash, ghost, named).catch((err: Error) => {
        this.deps.log.warn({ ghost, jid: source.jid, hash, err }, "could not bring the ghost's avatar up to date");
        return false;
      }),
    );
    this.refreshing.set(ghost, next);
    void next.finally(() => this.refreshing.get(ghost) === next && this.refreshing.delete(ghost));
    return next;
  }

  private async refresh(source: ProfileSource, hash: string, ghost: string, named: boolean): Promise<boolean> {
    const state = await this.deps.store.ghostProfile(ghost);
    if (state.avatarHash === hash) return false;
    if (hash === "") {
      // Only an avatar the bridge set is taken away; a ghost never given one has nothing to remove.
      if (state.avatarHash !== undefined) await this.deps.rooms.setAvatar(ghost, "");
      await this.deps.store.setGhostProfile(ghost, { avatarHash: "" });
      return state.avatarHash !== undefined;
    }
    const profile = await this.deps.lookUp(source);
    // Not remembered: the next announcement tries again.
    if (!profile) return false;
    if (named && profile.name) await this.rename(ghost, source.jid, profile.name, state.vcardName);
    const applied = await this.applyPhoto(ghost, profile);
    if (applied !== undefined && applied !== hash) this.deps.log.debug({ ghost, announced: hash, got: applied }, "the photo is not the one announced; it is taken all the same");
    // Remembered even when no usable photo came: asking again for the same hash would get the same.
    await this.deps.store.setGhostProfile(ghost, { avatarHash: hash });
    return applied !== undefined;
  }

  /** Sets the vCard's photo as the ghost's avatar; returns its SHA-1, undefined when there was none to set. */
  private async applyPhoto(ghost: string, profile: VcardProfile): Promise<string | undefined> {
    if (!profile.photo) {
      if (profile.photoRejected) this.deps.log.info({ ghost, reason: profile.photoRejected }, "XMPP avatar refused");
      return undefined;
    }
    try {
      const avatar = await inspectAvatar(profile.photo);
      await this.deps.rooms.setAvatar(ghost, await this.deps.uploads.mxcOf(avatar, ghost));
      this.deps.log.info({ ghost, sha1: avatar.sha1, mediaType: avatar.mediaType }, "ghost avatar set");
      return avatar.sha1;
    } catch (err) {
      if (isPassing(err)) throw err;
      this.deps.log.info({ ghost, err, reason: err instanceof AvatarRejectedError ? err.reason : undefined }, "XMPP avatar not set");
      return undefined;
    }
  }

  /** Renames the ghost after its vCard, if its name is still one the bridge gave it from there (or a default). */
  private async rename(ghost: string, jid: string, name: string, lastVcardName: string | undefined): Promise<void> {
    const current = await this.deps.rooms.displayName(undefined, ghost);
    const ours = current === undefined || current === lastVcardName || current === jidLocalpart(jid) || current === matrixLocalpart(ghost);
    if (!ours || current === name) return;
    await this.deps.rooms.ensureGhost(ghost, name);
    await this.deps.store.setGhostProfile(ghost, { vcardName: name });
    this.deps.log.info({ ghost, name }, "ghost renamed after its vCard");
  }
}
