// The one user-namespace mapping every container shares: container uid/gid 0..size-1
// appear on the host as hostBase..hostBase+size-1, so container root is never host root.
// Unpacked image layers are stored with owners already shifted into this range, which is
// what lets an overlay of them serve as a rootfs inside the user namespace.
export const ID_MAP = { hostBase: 100_000, size: 65_536 } as const;

export const toHostId = (containerId: number): number => {
  if (!Number.isInteger(containerId) || containerId < 0 || containerId >= ID_MAP.size) {
    throw new RangeError(`id ${containerId} is outside the container id range 0..${ID_MAP.size - 1}`);
  }
  return ID_MAP.hostBase + containerId;
};
