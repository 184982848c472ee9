// geokv-ring --svg: a picture of the ring for operators.
//
// The ring is a circle with 0 at the top and positions growing clockwise.
// Outside it, every token is a tick coloured by its node's datacenter. Inside,
// each partition's key range is an arc with one band per replica (outermost =
// first in the preference list), coloured by the datacenter holding it, so
// runs of the same colour show where one datacenter's tokens dominate. A legend
// lists datacenters and nodes with their token and replica counts.
#pragma once

#include <string>

#include "placement/ring.h"

namespace geokv::tools {

// The whole SVG document for `table`. Deterministic: same table, same bytes.
std::string RenderRingSvg(const placement::PlacementTable& table);

}  // namespace geokv::tools
