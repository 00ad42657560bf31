// SPDX-License-Identifier: Apache-2.0
// TicTacToeApp: a two-player tic-tac-toe game as a Perun app, to exercise
// on-chain force execution (register -> progress -> conclude) of the Perun
// state-channel protocol; same App interface as perun-eth-contracts v1.0.0.
//
// appData layout (exactly 10 bytes, abi.encodePacked(uint8 nextActor, uint8[9] grid)
// with each grid cell packed into one byte):
//   byte 0      nextActor: index (0 or 1) of the participant whose turn it is
//   bytes 1..9  grid, row-major (cell i = row i/3, column i%3):
//               0 = empty, 1 = player 0's mark, 2 = player 1's mark
// Rules checked on every transition from -> to by actor a:
//   - exactly 2 participants; both appData are 10 bytes; from.nextActor == a
//     and to.nextActor == 1 - a (turns alternate);
//   - exactly one empty cell becomes a + 1, all other cells are unchanged;
//   - if the move completes a line of a's marks: `to` is final and a receives the
//     whole pot of every asset (the other player 0);
//   - else if the grid is full (draw): `to` is final, balances unchanged;
//   - else `to` is not final and balances are unchanged.
pragma solidity ^0.8.28;

import {App} from "./App.sol";
import {Channel} from "./Channel.sol";

contract TicTacToeApp is App {
    error NotTwoPlayers(uint256 numParts);
    error InvalidAppData();
    error NotYourTurn(uint256 actorIdx);
    error InvalidMove();
    error InvalidFinality(bool expected);
    error InvalidBalances(uint256 assetIdx);

    uint256 private constant DATA_LEN = 10;

    function validTransition(
        Channel.Params calldata params,
        Channel.State calldata from,
        Channel.State calldata to,
        uint256 actorIdx
    ) external pure override {
        if (params.participants.length != 2) revert NotTwoPlayers(params.participants.length);
        bytes calldata f = from.appData;
        bytes calldata t = to.appData;
        if (f.length != DATA_LEN || t.length != DATA_LEN) revert InvalidAppData();
        // actorIdx < 2 is guaranteed by the Adjudicator; checking it again keeps
        // the app safe when called directly.
        if (actorIdx > 1 || uint8(f[0]) != actorIdx) revert NotYourTurn(actorIdx);
        if (uint8(t[0]) != 1 - actorIdx) revert InvalidAppData();

        uint8 mark = uint8(actorIdx) + 1;
        uint256 changed;
        uint256 moves;
        for (uint256 i = 1; i < DATA_LEN; ++i) {
            uint8 o = uint8(f[i]);
            uint8 c = uint8(t[i]);
            if (o != c) {
                // Only an empty cell may change, and only to the actor's mark.
                if (o != 0 || c != mark) revert InvalidMove();
                ++changed;
            }
            if (c != 0) ++moves;
        }
        if (changed != 1) revert InvalidMove();

        bool won = _hasLine(t, mark);
        bool done = won || moves == 9;
        if (to.isFinal != done) revert InvalidFinality(done);

        uint256[][] calldata oldBals = from.outcome.balances;
        uint256[][] calldata newBals = to.outcome.balances;
        uint256 other = 1 - actorIdx;
        for (uint256 a; a < oldBals.length; ++a) {
            uint256[] calldata o = oldBals[a];
            uint256[] calldata b = newBals[a];
            if (won) {
                // Sums are preserved by the Adjudicator, so "other gets 0" means
                // the winner holds the whole pot.
                if (b[other] != 0) revert InvalidBalances(a);
            } else if (b[0] != o[0] || b[1] != o[1]) {
                revert InvalidBalances(a);
            }
        }
    }

    /// @dev Whether `mark` fills a row, column or diagonal of the grid in `d`
    /// (cells at d[1..9]).
    function _hasLine(bytes calldata d, uint8 mark) private pure returns (bool) {
        // The 8 lines as cell triples (0-based), 4 bits per cell index.
        uint96 lines = 0x012_345_678_036_147_258_048_246;
        for (uint256 l; l < 8; ++l) {
            uint256 bits = uint256(lines >> (12 * (7 - l)));
            uint256 c0 = (bits >> 8) & 0xf;
            uint256 c1 = (bits >> 4) & 0xf;
            uint256 c2 = bits & 0xf;
            if (uint8(d[1 + c0]) == mark && uint8(d[1 + c1]) == mark && uint8(d[1 + c2]) == mark) return true;
        }
        return false;
    }
}
