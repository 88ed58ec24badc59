/** Whiteout names in layer tars (OCI image spec, "Representing Changes"). */
export const whiteoutPrefix = '.wh.';
export const opaqueMarker = '.wh..wh..opq';
/** Names beginning with this are AUFS bookkeeping (hardlink dirs and the like), never content. */
export const whiteoutMetaPrefix = '.wh..wh.';

/** How overlayfs marks an opaque directory in a lower or upper dir. */
export const overlayOpaqueXattr = 'trusted.overlay.opaque';
