// The six components of the scoring model. Each fills a ComponentScore's component,
// applicable, value (0-100), confidence (0-1) and reasons; the weights and contributions are
// the model's business (scoring_model.cc). docs/scoring.md explains every formula.
//
// Each formula is monotone in the facts the property tests vary, by construction: participants
// only ever add credit (features are "some participant does X"), money disbursed only ever
// raises the disbursed share, and an overdue milestone only ever earns less than one on track.
#pragma once

#include "services/scoring/core/model_config.h"
#include "services/scoring/core/project_facts.h"
#include "stp/scoring/v1/score.pb.h"

namespace stp::scoring {

// Income-group steps from the host to the lead technology partner's country, with the
// triangular bridge for large gaps.
stp::scoring::v1::ComponentScore ScoreAbsorptiveFit(const ProjectFacts& facts,
                                                    const ModelConfig& config);

// How each of the project's avenues suits the host's income group and indicators.
stp::scoring::v1::ComponentScore ScoreComparativeAdvantage(const ProjectFacts& facts,
                                                           const ModelConfig& config);

// Triangular partner, DFI co-financier, host government, IASP membership.
stp::scoring::v1::ComponentScore ScorePartnershipStructure(const ProjectFacts& facts,
                                                           const ModelConfig& config);

// Committed against budget, disbursed against committed, number of distinct sources.
stp::scoring::v1::ComponentScore ScoreFinancingHealth(const ProjectFacts& facts,
                                                      const ModelConfig& config);

// Milestones on time, results against targets, stage.
stp::scoring::v1::ComponentScore ScoreExecution(const ProjectFacts& facts,
                                                const ModelConfig& config);

// Internet use and income group of the host; applies only to e-commerce and e-manufacturing.
stp::scoring::v1::ComponentScore ScoreDigitalReadiness(const ProjectFacts& facts,
                                                       const ModelConfig& config);

}  // namespace stp::scoring
