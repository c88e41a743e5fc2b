"""What smoke does to the people in it: visibility, walking speed, tenability limits and the fractional effective dose.

Pure functions of a space's smoke (the zone fire model of `scenes.drills.fire` supplies the inputs).

- Extinction coefficient K = σ_m c_soot (1/m), σ_m = 8,700 m²/kg (Mulholland and Croarkin 2000, "Specific extinction
  coefficient of flame generated smoke", Fire and Materials 24); optical density per metre D = K / ln 10.
- Visibility S = C / K with C = 3 for light-reflecting and 8 for light-emitting signs (Jin 1978, "Visibility through
  fire smoke", J. Fire & Flammability 9; Jin, SFPE Handbook, "Visibility and human behavior in fire smoke").
- Walking speed in smoke: v / v₀ = max(f_min, 1 + β K / α), α = 0.706 m/s, β = −0.057 m²/s (Frantzich and Nilsson
  2003, "Utrymning genom tät rök: beteende och förflyttning", Lund University report 3126, as used by FDS+Evac:
  Korhonen 2018, "FDS+Evac technical reference and user's guide", VTT), f_min = 0.1 after FDS+Evac.
- Radiation from a hot layer overhead: q = ε σ (T⁴ − T₀⁴), ε = 1 − exp(−K d) with the layer's depth d and its
  extinction coefficient standing in for its absorption coefficient; 2.5 kW/m² (≈ a 200 °C black layer) is the
  limit skin tolerates for minutes (Purser and McAllister, SFPE Handbook 5th ed. 2016, "Assessment of hazards to
  occupants from smoke, toxic gases, and heat").
- Fractional effective dose per minute (ISO 13571:2012, "Life-threatening components of fire — Guidelines for the
  estimation of time available for escape using fire data"; Purser, SFPE Handbook):
  CO (Purser): 3.317e-5 [CO ppm]^1.036 V_E / D with V_E = 25 L/min (light work) and D = 30 % COHb, times the CO₂
  hyperventilation factor V_CO2 = exp(0.1903 [CO₂ %] + 2.0004) / 7.1;
  convected heat (ISO 13571): 1 / t_conv with t_conv = 5e7 T^−3.4 min (T °C);
  radiant heat (ISO 13571): 1 / t_rad with t_rad = 6.9 q^−1.56 min (q kW/m²), counted only above 2.5 kW/m².
  Narcotic gases other than CO (HCN), O₂ depletion and irritants are not modelled.
"""

from __future__ import annotations

import math

SIGMA_SOOT = 8700.0  # m²/kg
SIGN_REFLECTING = 3.0
SIGN_EMITTING = 8.0
FN_ALPHA = 0.706  # m/s
FN_BETA = -0.057  # m²/s
MIN_SPEED_FACTOR = 0.1
STEFAN_BOLTZMANN = 5.670374e-11  # kW/m²/K⁴
RADIANT_LIMIT = 2.5  # kW/m²
HOT_LIMIT_C = 60.0
VISIBILITY_LIMIT_M = 10.0
MINUTE_VENTILATION = 25.0  # L/min
COHB_INCAPACITATION = 30.0  # %
AMBIENT_CO2_PERCENT = 0.04


def extinction(soot_kg_m3: float) -> float:
    """Extinction coefficient K (1/m) of smoke holding this much soot."""
    return SIGMA_SOOT * max(0.0, soot_kg_m3)


def optical_density(k: float) -> float:
    """Optical density per metre, D = K / ln 10."""
    return k / math.log(10.0)


def visibility(k: float, sign: float = SIGN_REFLECTING) -> float:
    """Distance (m) a sign is seen through smoke of extinction K; infinite in clear air."""
    return sign / k if k > 0 else math.inf


def speed_factor(k: float, min_factor: float = MIN_SPEED_FACTOR) -> float:
    """Walking speed in smoke of extinction K over the free walking speed, in (0, 1] (Frantzich–Nilsson)."""
    return max(min_factor, min(1.0, 1.0 + FN_BETA * k / FN_ALPHA))


def radiant_flux(layer_k: float, layer_depth_m: float, layer_temperature_k: float, ambient_k: float) -> float:
    """Radiation (kW/m²) reaching someone below a hot layer."""
    if layer_depth_m <= 0 or layer_temperature_k <= ambient_k:
        return 0.0
    emissivity = 1.0 - math.exp(-layer_k * layer_depth_m)
    return emissivity * STEFAN_BOLTZMANN * (layer_temperature_k**4 - ambient_k**4)


def co2_hyperventilation(co2_percent: float) -> float:
    """Purser's factor by which CO₂ speeds up breathing (1 at ambient)."""
    return math.exp(0.1903 * co2_percent + 2.0004) / 7.1


def fed_co_per_min(co_ppm: float, co2_percent: float = AMBIENT_CO2_PERCENT) -> float:
    if co_ppm <= 0:
        return 0.0
    return 3.317e-5 * co_ppm**1.036 * MINUTE_VENTILATION / COHB_INCAPACITATION * co2_hyperventilation(co2_percent)


def fed_convected_per_min(temperature_c: float) -> float:
    return temperature_c**3.4 / 5e7 if temperature_c > 0 else 0.0


def fed_radiant_per_min(flux_kw_m2: float) -> float:
    return flux_kw_m2**1.56 / 6.9 if flux_kw_m2 > RADIANT_LIMIT else 0.0


def fed_rate(breathes_smoke: bool, co_ppm: float, co2_percent: float, temperature_c: float,
             flux_kw_m2: float) -> float:
    """Fractional effective dose per second: asphyxiant (CO with CO₂ hyperventilation) plus heat (convected, when
    breathing the layer, and radiant from it)."""
    per_minute = fed_radiant_per_min(flux_kw_m2)
    if breathes_smoke:
        per_minute += fed_co_per_min(co_ppm, co2_percent) + fed_convected_per_min(temperature_c)
    return per_minute / 60.0


def untenable(smoke_below_limit: bool, visibility_m: float, temperature_c: float, flux_kw_m2: float) -> bool:
    """Untenable: the layer below the tenability height with visibility under 10 m or hotter than 60 °C; or more
    than 2.5 kW/m² of radiation from the layer overhead."""
    if flux_kw_m2 > RADIANT_LIMIT:
        return True
    return smoke_below_limit and (visibility_m < VISIBILITY_LIMIT_M or temperature_c > HOT_LIMIT_C)
