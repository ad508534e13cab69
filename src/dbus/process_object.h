#pragma once  // placeholder
